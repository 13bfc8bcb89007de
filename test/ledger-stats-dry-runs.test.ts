import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate, readMigrations } from '../src/db/migrator.ts';
import { uuidv7At } from '../src/ledger/history.ts';
import { DEMO_TENANTS, seedDemo } from '../src/suite/demo.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';
import { withDatabaseName } from './helpers/target.ts';

// Issue 21: a restore dry run changes nothing, so the Overview counts it as a row of its own
// ("Restore (dry run)"): visible, failures included, and never part of the restores' failure rate.
// A run is a dry run when its inputs say dryRun: true; a restore record's mirror carries them too
// (migration 0024), whoever wrote the record.
let ledger: SuiteLedger;
const pass = process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded';
const [CONTOSO] = DEMO_TENANTS;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ledger = await startSuiteLedger();
  const deps = { database: ledger.database, config: ledger.config, rootKey: ledger.rootKey };
  await seedDemo(deps, { connections: ledger.suite.connections });
}, 180_000);
afterAll(async () => {
  await ledger?.stop();
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

type RecordRow = { id: string; dry_run: boolean; mirror_inputs: unknown; mirror_id: string | null };

async function recordsWithMirrors(database: Database, tenantId: string): Promise<RecordRow[]> {
  const { rows } = await sql<RecordRow>`
    select r.id, r.dry_run, m.context -> 'inputs' as mirror_inputs, m.id as mirror_id
    from restore_runs r
    left join operation_runs m on m.tenant_id = r.tenant_id and m.source_type = 'restore_run'
      and m.source_id = r.id::text
    where r.tenant_id = ${tenantId} order by r.created_at`.execute(database.db);
  return rows;
}

/** A restore record written straight into the table, as another application would. */
async function writeRecord(
  database: Database,
  tenantId: string,
  backupSetId: string,
  record: { dryRun: boolean; status: 'completed' | 'failed' },
) {
  const id = uuidv7At(Date.now());
  const now = new Date();
  await database.systemTx(async (trx) => {
    await sql`insert into restore_runs (id, tenant_id, backup_set_id, status, dry_run, initiator_kind,
        initiator_name, created_at, started_at)
      values (${id}, ${tenantId}, ${backupSetId}, 'running', ${record.dryRun}, 'api', 'change window',
        ${now}, ${now})`.execute(trx);
    await sql`update restore_runs set status = ${record.status}, completed_at = ${new Date(now.getTime() + 1500)},
        error_code = ${record.status === 'failed' ? 'graph_forbidden' : null},
        error_message = ${record.status === 'failed' ? 'Graph answered 403' : null}
      where tenant_id = ${tenantId} and id = ${id}`.execute(trx);
  });
  return id;
}

const row = <T extends { type: string; dryRun: boolean }>(rows: T[], dryRun: boolean) =>
  rows.find((r) => r.type === 'restore.execute' && r.dryRun === dryRun);

describe(`restore dry runs, apart (${pass})`, () => {
  it('every mirror of a demo restore record says whether it is a dry run; the list marks and filters them', async () => {
    for (const t of DEMO_TENANTS) {
      const records = await recordsWithMirrors(ledger.database, t.id);
      expect(records.filter((r) => r.dry_run).length).toBeGreaterThanOrEqual(3);
      for (const r of records) {
        expect(r.mirror_id).not.toBeNull();
        expect(r.mirror_inputs).toMatchObject({ dryRun: r.dry_run });
      }
      const dry = await ledger.service.list(t.id, { type: 'restore.execute', dryRun: 'true', limit: 200 });
      expect(dry.data.map((r) => r.id).sort()).toEqual(
        records
          .filter((r) => r.dry_run)
          .map((r) => r.mirror_id)
          .sort(),
      );
      for (const r of dry.data) {
        expect(r.title).toMatch(/^Restore \(dry run\)/);
        expect(r.tag).toBe('Dry run');
      }
      const real = await ledger.service.list(t.id, { type: 'restore.execute', dryRun: 'false', limit: 200 });
      expect(real.data.map((r) => r.id).sort()).toEqual(
        records
          .filter((r) => !r.dry_run)
          .map((r) => r.mirror_id)
          .sort(),
      );
      for (const r of real.data) expect(r.tag).toBeNull();
      await expect(ledger.service.list(t.id, { dryRun: 'maybe' })).rejects.toThrow(
        /dryRun must be true or false/,
      );
    }
  });

  it('a failed dry run has its own row in the stats and the failure rates, and leaves the restores alone', async () => {
    const tenant = CONTOSO.id;
    const backupSetId = (
      await sql<{ id: string }>`select id from backup_sets where tenant_id = ${tenant} limit 1`.execute(
        ledger.database.db,
      )
    ).rows[0]!.id;
    const read = async () => ({
      day: await ledger.service.stats(tenant, '7d'),
      hours: await ledger.service.stats(tenant, '24h'),
      insights: await ledger.service.insights(tenant, '24h'),
    });
    const before = await read();
    const failedDry = await writeRecord(ledger.database, tenant, backupSetId, {
      dryRun: true,
      status: 'failed',
    });
    await writeRecord(ledger.database, tenant, backupSetId, { dryRun: true, status: 'completed' });
    // A dry run started here (its run has the inputs from the start).
    const { run } = await ledger.restoreRuns.create(
      tenant,
      { backupId: backupSetId, dryRun: true },
      { kind: 'system' },
    );
    await ledger.waitForRun(tenant, run.id, (r) => r.status === 'completed', 60_000);
    const after = await read();

    for (const window of ['day', 'hours'] as const) {
      const real = [row(before[window].data, false), row(after[window].data, false)];
      expect(real[1], window).toEqual(real[0]);
      const dry = row(after[window].data, true)!;
      expect(dry.typeLabel).toBe('Restore');
      expect(dry.total - (row(before[window].data, true)?.total ?? 0), window).toBe(3);
      expect(dry.counts.failed - (row(before[window].data, true)?.counts.failed ?? 0), window).toBe(1);
    }
    const days = (await ledger.service.dailyCounts(tenant, '7d')).filter(
      (d) => d.type === 'restore.execute' && d.dryRun,
    );
    expect(days.reduce((n, d) => n + d.counts.failed, 0)).toBeGreaterThanOrEqual(1);

    const rates = [row(before.insights.failureRates, false), row(after.insights.failureRates, false)];
    expect(rates[1]).toEqual(rates[0]);
    const dryRate = row(after.insights.failureRates, true)!;
    expect(dryRate.total).toBe((row(before.insights.failureRates, true)?.total ?? 0) + 3);
    expect(dryRate.failed).toBe((row(before.insights.failureRates, true)?.failed ?? 0) + 1);
    expect(
      after.insights.hours.some((h) => h.type === 'restore.execute' && h.dryRun && h.counts.failed > 0),
    ).toBe(true);
    // Still visible: among the latest failures, marked as a dry run.
    const mirror = (await recordsWithMirrors(ledger.database, tenant)).find((r) => r.id === failedDry)!;
    const latest = after.insights.recentFailures.find((r) => r.id === mirror.mirror_id);
    expect(latest?.tag).toBe('Dry run');
  });
});

/** A new, empty database (a PGlite instance, or a database of its own on the PostgreSQL server). */
async function emptyDatabase(): Promise<Database> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const db = await openDatabase({ kind: 'pglite-memory' });
    cleanups.push(() => db.close());
    return db;
  }
  const name = `opsledger_m_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const db = await openDatabase({ kind: 'postgres', url: withDatabaseName(adminUrl, name) });
  cleanups.push(async () => {
    await db.close();
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`drop database if exists ${name} with (force)`);
    await c.end();
  });
  return db;
}

describe(`the upgrade to migration 0024 (${pass})`, () => {
  it('gives the mirrors that exist their inputs and counts their dry runs apart in the rollup', async () => {
    const db = await emptyDatabase();
    await migrate(
      db,
      readMigrations().filter((m) => m.version < 24),
    );
    const tenant = uuidv7At(Date.now());
    const backupSetId = uuidv7At(Date.now());
    await db.systemTx((trx) =>
      sql`insert into tenants (id, name) values (${tenant}, 'Upgrade')`.execute(trx),
    );
    await writeRecord(db, tenant, backupSetId, { dryRun: true, status: 'failed' });
    await writeRecord(db, tenant, backupSetId, { dryRun: false, status: 'completed' });
    const old = await recordsWithMirrors(db, tenant);
    expect(old.map((r) => r.mirror_inputs)).toEqual([null, null]);

    expect(await migrate(db)).toEqual(
      readMigrations()
        .filter((m) => m.version >= 24)
        .map((m) => m.name),
    );
    const now = await recordsWithMirrors(db, tenant);
    expect(now.map((r) => [r.mirror_id, r.mirror_inputs])).toEqual(
      old.map((r) => [r.mirror_id, { backupId: backupSetId, dryRun: r.dry_run }]),
    );
    const { rows } = await sql<{ dry_run: boolean; succeeded: number; failed: number }>`
      select dry_run, succeeded, failed from operation_run_daily_stats where tenant_id = ${tenant}
      order by dry_run`.execute(db.db);
    expect(rows).toEqual([
      { dry_run: false, succeeded: 1, failed: 0 },
      { dry_run: true, succeeded: 0, failed: 1 },
    ]);
  });
});
