import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { onPostgres } from './helpers/target.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.destroy();
});

async function waitFor(check: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('delivers notices to a listener, stops after unlisten, and (on PostgreSQL) listens again after its connection is killed', async () => {
  const got: string[] = [];
  const stop = await t.database.listen('opsledger_test', (p) => got.push(p));
  await sql`select pg_notify('opsledger_test', 'one')`.execute(t.database.db);
  await waitFor(() => got.includes('one'));
  if (onPostgres()) {
    // The server drops the listening connection (failover, idle kill, restart).
    const killed = await sql<{ n: number }>`
      select count(*)::int as n from (
        select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and query ilike 'LISTEN%'
      ) k`.execute(t.database.db);
    expect(killed.rows[0]!.n).toBe(1);
    // Notices resume on a new connection once it is back.
    await waitFor(() => {
      void sql`select pg_notify('opsledger_test', 'two')`.execute(t.database.db);
      return got.includes('two');
    }, 15_000);
    console.log('[listen] PostgreSQL pass: reconnect after pg_terminate_backend checked');
  } else {
    console.log('[listen] embedded pass: in-process delivery checked (no connection to drop)');
  }
  await stop();
  const before = got.length;
  await sql`select pg_notify('opsledger_test', 'three')`.execute(t.database.db);
  await new Promise((r) => setTimeout(r, 300));
  expect(got.length).toBe(before);
});
