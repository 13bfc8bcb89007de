import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TenantReadQuery } from '../src/db/database.ts';
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

it('every way into a tenant transaction (one message to read, one to write) fails whole when a statement leaves the role', async () => {
  const users = (await sql<{ n: number }>`select count(*)::int as n from users`.execute(h.ledger.database.db))
    .rows[0]!.n;
  expect(users).toBeGreaterThan(1);
  // Statement lists that reset the role and then read or write, as injected text would.
  const raw = (text: string): TenantReadQuery<unknown> => {
    const builder = sql.raw(text);
    return {
      compile: () => builder.compile(h.ledger.database.db),
      toOperationNode: () => builder.toOperationNode(),
    };
  };
  const leave = raw('reset role; select email from users');
  await expect(h.ledger.database.tenantRead(tenantA, leave)).rejects.toThrow(/changed its role or tenant/);
  await expect(h.ledger.database.tenantWrite(tenantA, leave)).rejects.toThrow(/changed its role or tenant/);
  const write = raw(`reset role; update operation_runs set summary_counts = '{"processed": 42}'`);
  await expect(h.ledger.database.tenantWrite(tenantA, write)).rejects.toThrow(/changed its role or tenant/);
  const counts = await sql<{ n: number }>`
    select count(*)::int as n from operation_runs where summary_counts = '{"processed": 42}'`.execute(
    h.ledger.database.db,
  );
  expect(counts.rows[0]!.n).toBe(0);
});

it('a notice sent from a transaction that left its scope is never delivered, to any listener', async () => {
  const channel = `opsledger_test_escape_${process.pid}`;
  const heard: string[] = [];
  const stop = await h.ledger.database.listen(channel, (p) => heard.push(p));
  try {
    await expect(
      inTenantA(async (trx) => {
        await sql`reset role`.execute(trx);
        await sql`select pg_notify(${channel}, (select string_agg(tenant_id::text, ',') from operation_runs))`.execute(
          trx,
        );
      }),
    ).rejects.toThrow(/changed its role or tenant/);
    // A marker sent afterwards: once it is heard, anything sent before it would have been too.
    await sql`select pg_notify(${channel}, 'marker')`.execute(h.ledger.database.db);
    const deadline = Date.now() + 20_000;
    while (!heard.includes('marker') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(heard).toEqual(['marker']);
  } finally {
    await stop();
  }
});

it('the application role cannot read the change feed key, seal a notice, or redact its way around the trigger', async () => {
  await expect(inTenantA((trx) => sql`select key from change_feed_key`.execute(trx))).rejects.toThrow(
    /permission denied/,
  );
  await expect(inTenantA((trx) => sql`select opsledger_feed_seal('{}')`.execute(trx))).rejects.toThrow(
    /permission denied/,
  );
  // Whatever it writes into a failure summary is redacted on the way in.
  const run = (await h.ledger.service.list(tenantA, {})).data[0]!;
  await inTenantA((trx) =>
    sql`update operation_runs set failure_summary = ${JSON.stringify([
      { code: 'x', message: 'password=hunter2 token=olt_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b_Zm9vYmFyYmF6cXV4' },
    ])}::jsonb where tenant_id = ${tenantA} and id = ${run.id}`.execute(trx),
  );
  const row = await h.ledger.service.getRow(tenantA, run.id);
  expect(row.failure_summary).toEqual([{ code: 'x', message: 'password=[REDACTED] token=[REDACTED]' }]);
});
