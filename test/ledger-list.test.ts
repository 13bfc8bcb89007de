import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusOf } from '../src/http/problem.ts';
import { boundMonitoringRead } from '../src/ledger/repository.ts';
import { translateDbError, UnavailableError } from '../src/shared/errors.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';
import { onPostgres } from './helpers/target.ts';
import { testTaskType } from './helpers/test-types.ts';

let ledger: TestLedger;
let tenant: string;
let other: string;

beforeAll(async () => {
  ledger = await startTestLedger({
    definitions: [testTaskType({ started: [], aborted: [] })],
    worker: false,
  });
  tenant = await ledger.createTenant('Listed');
  other = await ledger.createTenant('Other');
  // 230 runs, several sharing a created_at to the microsecond (keyset must still be exact).
  await sql`
    insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind,
                                initiator_user_id, created_at, started_at, completed_at, max_attempts)
    select gen_random_uuid(), ${tenant}, 'test.task', 'completed',
           (array['succeeded','failed','partially_succeeded','cancelled'])[1 + g % 4],
           encode(sha256(convert_to('l' || g, 'UTF8')), 'hex'),
           (array['user','api','schedule','system'])[1 + g % 4],
           case when g % 4 = 0 then '0190a0b0-0000-7000-8000-000000000001'::uuid end,
           timestamptz '2026-06-01T00:00:00Z' + (g / 3) * interval '1 hour',
           timestamptz '2026-06-01T00:00:00Z' + (g / 3) * interval '1 hour',
           timestamptz '2026-06-01T00:00:00Z' + (g / 3) * interval '1 hour' + interval '1 minute', 1
    from generate_series(1, 230) g`.execute(ledger.database.db);
  await ledger.service.start({
    tenantId: other,
    type: 'test.task',
    inputs: { key: 'x' },
    initiator: { kind: 'system' },
  });
});
afterAll(async () => {
  await ledger?.stop();
});

describe('list', () => {
  it('pages newest first through every run exactly once with keyset cursors', async () => {
    const seen: string[] = [];
    const times: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await ledger.service.list(tenant, { limit: 37, cursor });
      pages++;
      for (const r of page.data) {
        seen.push(r.id);
        times.push(Date.parse(r.createdAt));
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(pages).toBe(Math.ceil(230 / 37));
    expect(new Set(seen).size).toBe(230);
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('filters by type, status, outcome, initiator, time window and id prefix', async () => {
    const failed = await ledger.service.list(tenant, { outcome: 'failed', limit: 200 });
    expect(failed.data.length).toBe(58);
    expect(failed.data.every((r) => r.outcome === 'failed')).toBe(true);
    const byUser = await ledger.service.list(tenant, { initiator: 'user', limit: 200 });
    expect(byUser.data.every((r) => r.initiator.kind === 'user' && r.initiator.userId)).toBe(true);
    const window = await ledger.service.list(tenant, {
      since: '2026-06-02T00:00:00Z',
      until: '2026-06-03T00:00:00Z',
      limit: 200,
    });
    expect(window.data.length).toBe(72);
    const some = failed.data[3]!;
    const byPrefix = await ledger.service.list(tenant, { q: some.id.slice(0, 13) });
    expect(byPrefix.data.map((r) => r.id)).toContain(some.id);
    expect((await ledger.service.list(tenant, { q: some.id.toUpperCase() })).data.map((r) => r.id)).toEqual([
      some.id,
    ]);
    expect((await ledger.service.list(tenant, { status: 'queued' })).data).toEqual([]);
    expect((await ledger.service.list(tenant, { type: 'test.task', limit: 1 })).data).toHaveLength(1);
  });

  it('never shows another tenant’s runs, even by exact id', async () => {
    const theirs = await ledger.service.list(other, {});
    expect(theirs.data).toHaveLength(1);
    expect((await ledger.service.list(tenant, { q: theirs.data[0]!.id })).data).toEqual([]);
  });

  it('rejects bad filters and forged, foreign or mismatched cursors', async () => {
    const page = await ledger.service.list(tenant, { limit: 5, outcome: 'failed' });
    const cursor = page.nextCursor!;
    const bad = { name: 'ValidationError' };
    await expect(ledger.service.list(tenant, { outcome: 'weird' })).rejects.toMatchObject(bad);
    await expect(ledger.service.list(tenant, { type: 'no.such' })).rejects.toMatchObject(bad);
    await expect(ledger.service.list(tenant, { limit: 0 })).rejects.toMatchObject(bad);
    await expect(ledger.service.list(tenant, { limit: '201' })).rejects.toMatchObject(bad);
    await expect(ledger.service.list(tenant, { since: 'yesterday' })).rejects.toMatchObject(bad);
    await expect(
      ledger.service.list(tenant, { q: "'; drop table operation_runs; --" }),
    ).rejects.toMatchObject(bad);
    // The cursor is bound to its filters and its tenant, and cannot be edited.
    await expect(ledger.service.list(tenant, { outcome: 'succeeded', cursor })).rejects.toMatchObject(bad);
    await expect(ledger.service.list(other, { outcome: 'failed', cursor })).rejects.toMatchObject(bad);
    const [body, mac] = cursor.split('.');
    const forgedBody = Buffer.from(JSON.stringify({ c: '2030-01-01T00:00:00.000000Z', i: 'x' })).toString(
      'base64url',
    );
    await expect(
      ledger.service.list(tenant, { outcome: 'failed', cursor: `${forgedBody}.${mac}` }),
    ).rejects.toMatchObject(bad);
    await expect(
      ledger.service.list(tenant, { outcome: 'failed', cursor: `${body}.AAAA` }),
    ).rejects.toMatchObject(bad);
    await expect(ledger.service.list(tenant, { outcome: 'failed', cursor: 'garbage' })).rejects.toMatchObject(
      bad,
    );
    expect((await ledger.service.list(tenant, { outcome: 'failed', limit: 5, cursor })).data).toHaveLength(5);
  });

  it('bounds monitoring reads with a statement timeout that ends with the transaction, answered as 503', async () => {
    const inside = await ledger.database.tenantTx(tenant, async (trx) => {
      await boundMonitoringRead(trx);
      return (await sql<{ statement_timeout: string }>`show statement_timeout`.execute(trx)).rows[0]!
        .statement_timeout;
    });
    expect(inside).toBe('5s');
    // The list asks for the same bound as an option, set with the tenant scope in one statement.
    const asOption = await ledger.database.tenantTx(
      tenant,
      async (trx) =>
        (await sql<{ statement_timeout: string }>`show statement_timeout`.execute(trx)).rows[0]!
          .statement_timeout,
      { statementTimeoutMs: 5000 },
    );
    expect(asOption).toBe('5s');
    const after = (
      await sql<{ statement_timeout: string }>`show statement_timeout`.execute(ledger.database.db)
    ).rows[0]!;
    expect(after.statement_timeout).toBe('0');
    if (!onPostgres()) {
      // PGlite runs in this process's thread and has no timer to cancel a statement with.
      console.log('[list] embedded pass: statement_timeout is set but not enforced by PGlite');
      return;
    }
    const cancelled = await ledger.database
      .tenantTx(tenant, async (trx) => {
        await sql`select set_config('statement_timeout', '50', true)`.execute(trx);
        await sql`select pg_sleep(2)`.execute(trx);
      })
      .catch((err) => translateDbError(err));
    expect(cancelled).toBeInstanceOf(UnavailableError);
    // The HTTP layer's one mapping answers it 503.
    expect(statusOf(cancelled as UnavailableError)).toBe(503);
    console.log('[list] PostgreSQL pass: a read past the timeout is cancelled and answered 503');
  });
});
