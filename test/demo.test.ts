import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessService } from '../src/access/service.ts';
import { demoCommand, suiteCommands } from '../src/cli/commands/suite.ts';
import { deterministicSecret } from '../src/graph/simulator.ts';
import { loadConfig } from '../src/main/config.ts';
import { openDatabaseFor } from '../src/main/opsledger.ts';
import { deriveKey } from '../src/shared/secret-key.ts';
import { DEMO_TENANTS, seedDemo } from '../src/suite/demo.ts';
import { backfillLegacy, describeDivergence, verifyLegacy } from '../src/suite/legacy/transition.ts';
import { createTestDatabase } from './helpers/db.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import { findInDatabase, type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

let ledger: SuiteLedger;
const simKey = deriveKey(Buffer.from(TEST_SECRET_KEY, 'hex'), 'graph-simulator');
const secrets = DEMO_TENANTS.map((t) => deterministicSecret(simKey, t.directoryId));

/** Every row of every table of ours, as text: equal digests mean nothing changed. */
async function digest() {
  const tables = await sql<{ name: string }>`
    select tablename as name from pg_tables where schemaname = 'public' order by 1`.execute(
    ledger.database.db,
  );
  const out: Record<string, string[]> = {};
  for (const { name } of tables.rows) {
    const rows = await sql<{ t: string }>`select t::text as t from ${sql.table(name)} t`.execute(
      ledger.database.db,
    );
    out[name] = rows.rows.map((r) => r.t).sort();
  }
  return out;
}

beforeAll(async () => {
  // GRAPH_URL is unset: the default simulator mode, started lazily in this process.
  ledger = await startSuiteLedger();
});

afterAll(async () => {
  await ledger?.stop();
});

describe('demo', () => {
  it('seeds three tenants with connections, a baseline and about 90 days of history, once', async () => {
    const deps = { database: ledger.database, config: ledger.config, rootKey: ledger.rootKey };
    const first = await seedDemo(deps, { connections: ledger.suite.connections });
    expect(first.map((t) => [t.name, t.seeded])).toEqual([
      ['Contoso', true],
      ['Fabrikam', true],
      ['Northwind Traders', true],
    ]);
    const before = await digest();
    const second = await seedDemo(deps, { connections: ledger.suite.connections });
    expect(second.every((t) => !t.seeded)).toBe(true);
    expect(await digest()).toEqual(before);

    const history = await sql<{ outcome: string; n: number; oldest: Date }>`
      select outcome, count(*)::int as n, min(created_at) as oldest from operation_runs
      where tenant_id = ${first[0]!.id} group by outcome`.execute(ledger.database.db);
    const outcomes = Object.fromEntries(history.rows.map((r) => [r.outcome, r.n]));
    expect(Object.keys(outcomes).sort()).toEqual(['cancelled', 'failed', 'partially_succeeded', 'succeeded']);
    const oldest = Math.min(...history.rows.map((r) => new Date(r.oldest).getTime()));
    expect((Date.now() - oldest) / 86_400_000).toBeGreaterThan(80);
    for (const t of first) {
      const schedules = await ledger.schedules.list(t.id);
      expect(schedules.map((s) => [s.name, s.type, s.status])).toEqual([
        ['nightly', 'inventory.sync', 'active'],
        ['weekly backup', 'backup.create', 'active'],
      ]);
    }
    const conn = await ledger.suite.connections.get(first[0]!.id);
    expect(conn).toMatchObject({ directoryId: DEMO_TENANTS[0].directoryId, hasSecret: true });
  });

  it('the seeded history agrees with its legacy rows; backfill imports the legacy-only ones', async () => {
    const pending = await verifyLegacy(ledger.database);
    expect(pending).toHaveLength(15);
    expect(pending.every((d) => d.problem.startsWith('has no canonical run'))).toBe(true);
    expect((await backfillLegacy(ledger.database)).imported).toBe(15);
    expect((await verifyLegacy(ledger.database)).map(describeDivergence)).toEqual([]);
  });

  it('a demo tenant syncs through its stored connection, and matches its baseline', async () => {
    const tenant = DEMO_TENANTS[1].id;
    const sync = await ledger.run(tenant, 'inventory.sync', {});
    expect(sync.outcome).toBe('succeeded');
    expect(sync.summary_counts).toMatchObject({ created: 100, failed: 0 });
    const baseline = await ledger.database.db
      .selectFrom('backup_sets')
      .select('id')
      .where('tenant_id', '=', tenant)
      .executeTakeFirstOrThrow();
    const drift = await ledger.run(tenant, 'drift.generate', { baselineId: baseline.id });
    expect(drift.summary_counts).toEqual({ added: 0, removed: 0, modified: 0 });
  });

  it('in simulator mode a tenant without a connection gets deterministic seeded data', async () => {
    const bare = await ledger.createTenant('No connection');
    expect(await ledger.suite.connections.get(bare)).toBeNull();
    const first = await ledger.run(bare, 'backup.create', { scope: ['compliancePolicies'] });
    const second = await ledger.run(bare, 'inventory.sync', { scope: ['compliancePolicies'] });
    expect(first.summary_counts).toEqual({ items: 25, families: 1 });
    expect(second.summary_counts).toMatchObject({ created: 25, failed: 0 });
    secrets.push(deterministicSecret(simKey, bare));
  });

  it('keeps the demo client secrets out of the database and the logs', async () => {
    expect(await findInDatabase(ledger, secrets)).toEqual([]);
    for (const s of secrets) expect(ledger.logText()).not.toContain(s);
  });
});

describe('commands', () => {
  it('demo, verify and backfill from the command line', async () => {
    const target = await createTestDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-cli-'));
    try {
      await target.database.close();
      const config = loadConfig({
        DATA_DIR: dataDir,
        SECRET_KEY: TEST_SECRET_KEY,
        LOG_LEVEL: 'silent',
        ...(target.url ? { DATABASE_URL: target.url } : {}),
      });
      const run = async (name: string) => {
        const lines: string[] = [];
        const cmd = suiteCommands.find((c) => c.name === name)!;
        const code = await cmd.run(
          { config, out: (l) => lines.push(l), stopSignal: new Promise(() => {}) },
          {},
        );
        return { code, lines };
      };
      const demo = await run('demo');
      expect(demo).toMatchObject({
        code: 0,
        lines: expect.arrayContaining([expect.stringMatching(/^seeded: Contoso/)]),
      });
      // A user per role per tenant, with printed credentials that really sign in with that role.
      const roleLines = demo.lines.filter(
        (l) => /@opsledger\.local \/ /.test(l) && /owner|operator|viewer/.test(l),
      );
      expect(roleLines.filter((l) => !l.startsWith('sign in as'))).toHaveLength(9);
      const operator = /(operator\.contoso@opsledger\.local) \/ (\S+)/.exec(demo.lines.join('\n'))!;
      const db = await openDatabaseFor(config);
      try {
        const access = new AccessService({ database: db });
        const user = await access.verifyCredentials(operator[1]!, operator[2]!);
        const tenants = await access.tenantsOf(user.id);
        expect(tenants).toEqual([expect.objectContaining({ name: 'Contoso', role: 'operator' })]);
      } finally {
        await db.close();
      }
      const before = await run('verify');
      expect(before.code).toBe(1);
      expect(before.lines.at(-1)).toBe('15 divergence(s)');
      expect(before.lines[0]).toMatch(
        /^(inventory_sync_runs|drift_generation_runs) row [0-9a-f-]{36}, tenant .*: has no canonical run/,
      );
      expect((await run('backfill')).lines[0]).toBe(
        'imported 15 run(s) (inventory_sync_runs: 12, drift_generation_runs: 3, restore_runs: 0)',
      );
      expect((await run('backfill')).lines[0]).toMatch(/^imported 0 run\(s\)/);
      expect(await run('verify')).toEqual({
        code: 0,
        lines: ['no divergence between the legacy run tables, the restore records and operation_runs'],
      });
      expect(await demoCommand.run({ config, out: () => {}, stopSignal: new Promise(() => {}) }, {})).toBe(0);
    } finally {
      await target.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
