import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { testTaskType } from './helpers/test-types.ts';

let h: ApiHarness;
let tenantA: string;
let tenantB: string;
let alice: TestUser;

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType({ started: [], aborted: [] })], worker: false });
  tenantA = await h.ledger.createTenant('Role A');
  tenantB = await h.ledger.createTenant('Role B');
  alice = await h.user('alice', { [tenantA]: 'owner' });
  await h.user('bob', { [tenantB]: 'owner' });
  for (const t of [tenantA, tenantB]) {
    await h.ledger.service.start({
      tenantId: t,
      type: 'test.task',
      inputs: { key: 'k' },
      initiator: { kind: 'system' },
    });
  }
});
afterAll(async () => {
  await h?.stop();
});

const inTenantA = <T>(
  fn: (trx: Parameters<Parameters<typeof h.ledger.database.tenantTx>[1]>[0]) => Promise<T>,
) => h.ledger.database.tenantTx(tenantA, fn);

it("inside a tenant transaction the app role sees only the tenant's members among users", async () => {
  const emails = await inTenantA(async (trx) =>
    (await sql<{ email: string }>`select email from users`.execute(trx)).rows.map((r) => r.email),
  );
  expect(emails).toEqual([alice.email]);
});

it("reads and updates only its own tenant's jobs, and nothing else of the queue", async () => {
  const table = (await h.ledger.boss.getQueue('opsledger-runs'))!.table;
  const jobs = sql.table(`pgboss.${table}`);
  const everyone = await sql<{ n: number }>`select count(distinct group_id)::int as n from ${jobs}`.execute(
    h.ledger.database.db,
  );
  expect(everyone.rows[0]!.n).toBe(2);
  const seen = await inTenantA(async (trx) => {
    const rows = await sql<{ group_id: string }>`select group_id from ${jobs}`.execute(trx);
    const updated = await sql`update ${jobs} set priority = priority where group_id = ${tenantB}`.execute(
      trx,
    );
    return {
      groups: [...new Set(rows.rows.map((r) => r.group_id))],
      updated: Number(updated.numAffectedRows ?? 0),
    };
  });
  expect(seen).toEqual({ groups: [tenantA], updated: 0 });
  for (const other of ['pgboss.job', 'pgboss.schedule', 'pgboss.version']) {
    await expect(
      inTenantA((trx) => sql`select count(*) from ${sql.raw(other)}`.execute(trx)),
    ).rejects.toThrow(/permission denied/);
  }
});

it('cannot re-bind its transaction to another tenant from a statement inside it', async () => {
  const rows = await inTenantA(async (trx) => {
    await sql`select set_config('opsledger.tenant_id', ${tenantB}, true)`.execute(trx);
    const runs = await sql<{ tenant_id: string }>`select tenant_id from operation_runs`.execute(trx);
    await sql`select set_config('opsledger.tenant_id', ${tenantA}, true)`.execute(trx);
    return runs.rows;
  });
  // With the setting forged, the signature no longer matches: nothing at all is visible.
  expect(rows).toEqual([]);
  await expect(
    inTenantA((trx) => sql`select opsledger_tenant_signature(${tenantB}::uuid)`.execute(trx)),
  ).rejects.toThrow(/permission denied/);
});

it('a statement that leaves the app role makes the whole transaction fail, so nothing it read gets out', async () => {
  await expect(
    inTenantA(async (trx) => (await sql`select set_config('role', 'none', true)`.execute(trx)).rows),
  ).rejects.toThrow(/changed its role or tenant/);
  await expect(
    inTenantA(async (trx) => {
      await sql`reset role`.execute(trx);
      return (await sql`select email from users`.execute(trx)).rows;
    }),
  ).rejects.toThrow(/changed its role or tenant/);
  await expect(
    inTenantA(async (trx) => {
      await sql`select set_config('opsledger.tenant_id', ${tenantB}, true)`.execute(trx);
      return 1;
    }),
  ).rejects.toThrow(/changed its role or tenant/);
  // Nothing written in such a transaction stays.
  const before = await h.ledger.service.list(tenantA, {});
  await expect(
    inTenantA(async (trx) => {
      await sql`update operation_runs set summary_counts = '{"processed": 99}'::jsonb`.execute(trx);
      await sql`reset role`.execute(trx);
    }),
  ).rejects.toThrow(/changed its role or tenant/);
  const after = await h.ledger.service.list(tenantA, {});
  expect(after.data.map((r) => r.summaryCounts)).toEqual(before.data.map((r) => r.summaryCounts));
});
