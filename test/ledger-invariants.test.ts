import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantRepository } from '../src/access/tenants.ts';
import { MIGRATIONS_DIR } from '../src/db/migrator.ts';
import { dumpSchema } from '../src/db/schema-dump.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

let t: TestDatabase;
let tenantA: string;
let tenantB: string;

const hash = (n: number) => n.toString(16).padStart(64, '0');

function runValues(tenantId: string, n: number, extra: Record<string, unknown> = {}) {
  return {
    id: uuidv7(),
    tenant_id: tenantId,
    type: 'test.task',
    run_identity_hash: hash(n),
    initiator_kind: 'system' as const,
    context: '{}',
    summary_counts: '{}',
    failure_summary: '[]',
    max_attempts: 1,
    ...extra,
  };
}

beforeAll(async () => {
  t = await createTestDatabase();
  tenantA = (await t.database.systemTx((trx) => tenantRepository.create(trx, { name: 'A' }))).id;
  tenantB = (await t.database.systemTx((trx) => tenantRepository.create(trx, { name: 'B' }))).id;
});
afterAll(async () => {
  await t?.destroy();
});

describe('invariants held by the database itself', () => {
  it('refuses a direct UPDATE or a sneaky reopen of a completed run', async () => {
    const db = t.database.db;
    const row = runValues(tenantA, 1, {
      status: 'completed',
      outcome: 'succeeded',
      completed_at: new Date(),
    });
    await db.insertInto('operation_runs').values(row).execute();
    await expect(
      sql`update operation_runs set outcome = 'failed' where id = ${row.id}`.execute(db),
    ).rejects.toThrow(/completed and cannot change/);
    await expect(
      sql`update operation_runs set status = 'running', outcome = 'pending', completed_at = null where id = ${row.id}`.execute(
        db,
      ),
    ).rejects.toThrow(/completed and cannot change/);
    // Also under the application role, inside a tenant-scoped transaction.
    await expect(
      t.database.tenantTx(tenantA, (trx) =>
        sql`update operation_runs set summary_counts = '{"x":1}' where id = ${row.id}`.execute(trx),
      ),
    ).rejects.toThrow(/completed and cannot change/);
    const after = await db
      .selectFrom('operation_runs')
      .selectAll()
      .where('id', '=', row.id)
      .executeTakeFirstOrThrow();
    expect(after.outcome).toBe('succeeded');
  });

  it('ties outcome to status: pending exactly while not completed', async () => {
    const db = t.database.db;
    await expect(
      db
        .insertInto('operation_runs')
        .values(runValues(tenantA, 2, { status: 'completed', outcome: 'pending', completed_at: new Date() }))
        .execute(),
    ).rejects.toThrow(/outcome_matches_status/);
    await expect(
      db
        .insertInto('operation_runs')
        .values(runValues(tenantA, 3, { status: 'running', outcome: 'succeeded' }))
        .execute(),
    ).rejects.toThrow(/outcome_matches_status/);
    const ok = runValues(tenantA, 4);
    await db.insertInto('operation_runs').values(ok).execute();
    await expect(
      sql`update operation_runs set outcome = 'failed' where id = ${ok.id}`.execute(db),
    ).rejects.toThrow(/outcome_matches_status/);
  });

  it('allows one active run per identity and one mirror per domain record', async () => {
    const db = t.database.db;
    await db.insertInto('operation_runs').values(runValues(tenantA, 5)).execute();
    await expect(db.insertInto('operation_runs').values(runValues(tenantA, 5)).execute()).rejects.toThrow(
      /active_identity_key/,
    );
    // Same identity in another tenant is another identity.
    await db.insertInto('operation_runs').values(runValues(tenantB, 5)).execute();
    await db
      .insertInto('operation_runs')
      .values(runValues(tenantA, 6, { source_type: 'restore_run', source_id: 'r1' }))
      .execute();
    await expect(
      db
        .insertInto('operation_runs')
        .values(runValues(tenantA, 7, { source_type: 'restore_run', source_id: 'r1' }))
        .execute(),
    ).rejects.toThrow(/source_key/);
  });

  it('row-level security: the application role with tenant A set sees none of B, and cannot write B', async () => {
    const db = t.database.db;
    await db.insertInto('operation_runs').values(runValues(tenantB, 8)).execute();
    const seen = await t.database.tenantTx(tenantA, async (trx) => {
      const runs = await sql<{ tenant_id: string }>`select tenant_id from operation_runs`.execute(trx);
      const tenants = await sql<{ id: string }>`select id from tenants`.execute(trx);
      const role = await sql<{ r: string }>`select current_user as r`.execute(trx);
      return { runs: runs.rows, tenants: tenants.rows, role: role.rows[0]!.r };
    });
    expect(seen.role).toBe('opsledger_app');
    expect(seen.runs.length).toBeGreaterThan(0);
    expect(seen.runs.every((r) => r.tenant_id === tenantA)).toBe(true);
    expect(seen.tenants).toEqual([{ id: tenantA }]);
    await expect(
      t.database.tenantTx(tenantA, (trx) =>
        trx.insertInto('operation_runs').values(runValues(tenantB, 9)).execute(),
      ),
    ).rejects.toThrow(/row-level security/);
    const updated = await t.database.tenantTx(tenantA, (trx) =>
      sql`update operation_runs set initiator_name = 'x' where tenant_id = ${tenantB}`.execute(trx),
    );
    expect(Number(updated.numAffectedRows ?? 0)).toBe(0);
    // Without any tenant set, the application role sees nothing at all.
    const none = await t.database.db.transaction().execute(async (trx) => {
      await sql`set local role opsledger_app`.execute(trx);
      return (await sql`select 1 from operation_runs`.execute(trx)).rows.length;
    });
    expect(none).toBe(0);
  });

  it('every tenant-owned table has forced RLS, and tenant_id in every unique index and in every foreign key between tenant-owned tables', async () => {
    const db = t.database.db;
    const tables = await sql<{ name: string; rls: boolean; force: boolean }>`
      select c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as force
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
      where n.nspname = 'public' and c.relkind = 'r'`.execute(db);
    expect(tables.rows.map((r) => r.name)).toContain('operation_runs');
    for (const table of tables.rows) {
      expect({ table: table.name, rls: table.rls, force: table.force }).toEqual({
        table: table.name,
        rls: true,
        force: true,
      });
    }
    const names = tables.rows.map((r) => r.name);
    const uniques = await sql<{ table: string; index: string; cols: string[] }>`
      select c.relname as table, i.relname as index,
             array(select a.attname from unnest(x.indkey) k join pg_attribute a on a.attrelid = c.oid and a.attnum = k)::text[] as cols
      from pg_index x join pg_class c on c.oid = x.indrelid join pg_class i on i.oid = x.indexrelid
      join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and x.indisunique`.execute(db);
    for (const u of uniques.rows.filter((r) => names.includes(r.table))) {
      expect({ index: u.index, hasTenant: u.cols.includes('tenant_id') }).toEqual({
        index: u.index,
        hasTenant: true,
      });
    }
    // A foreign key to a global table (tenants, users: Citus reference tables) cannot carry the
    // tenant; one between tenant-owned tables must, so both rows live on the same shard.
    const fks = await sql<{ table: string; name: string; cols: string[]; target: string }>`
      select c.relname as table, con.conname as name, (select relname from pg_class where oid = con.confrelid) as target,
             array(select a.attname from unnest(con.conkey) k join pg_attribute a on a.attrelid = c.oid and a.attnum = k)::text[] as cols
      from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and con.contype = 'f'`.execute(db);
    for (const fk of fks.rows.filter((r) => names.includes(r.table) && names.includes(r.target))) {
      expect({ fk: fk.name, hasTenant: fk.cols.includes('tenant_id') }).toEqual({
        fk: fk.name,
        hasTenant: true,
      });
    }
  });

  it('the committed schema.sql matches the migrated schema (run npm run schema:dump after a migration)', async () => {
    const committed = fs.readFileSync(path.join(MIGRATIONS_DIR, 'schema.sql'), 'utf8');
    expect(await dumpSchema(t.database)).toBe(committed);
  });
});
