// Run numbers (#1, #2, … per tenant), titles, the person filter, the bounded count and the bulk
// cancel / retry endpoints, through the real HTTP app on a real ledger (worker included).
// Runs on both databases.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { CORPUS } from './helpers/secret-corpus.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
/** Keys whose runs now succeed: a run of `test.flaky` fails until its key is healed. */
const healed = new Set<string>();
const flaky = testTaskType(log, {
  name: 'test.flaky',
  label: 'Flaky task',
  maxAttempts: 1,
  async handler(ctx) {
    const { key } = ctx.inputs as { key: string };
    if (!healed.has(key)) throw new Error(`${key} is not healed yet`);
    await new Promise((r) => setTimeout(r, 200));
    return { counts: { processed: 1 } };
  },
});
let h: ApiHarness;
let tenantA: string;
let tenantB: string;
let owner: TestUser;
let operator: TestUser;
let viewer: TestUser;
let stranger: TestUser;
let ownerB: TestUser;

type Run = {
  id: string;
  number: number;
  status: string;
  outcome: string;
  title: string;
  tag: string | null;
  retryOf: string | null;
  initiator: { userId: string | null };
  failureSummary: { code: string; message: string }[];
};

const base = (t: string) => `/api/v1/tenants/${t}/operations`;

async function start(
  user: TestUser,
  tenant: string,
  inputs: Record<string, unknown>,
  type = 'test.task',
): Promise<Run> {
  const res = await h.app.inject({
    method: 'POST',
    url: base(tenant),
    headers: h.bearer(user),
    payload: { type, inputs },
  });
  expect(res.statusCode, res.body).toBe(202);
  return res.json().run;
}

async function get(user: TestUser, tenant: string, id: string) {
  return h.app.inject({ url: `${base(tenant)}/${id}`, headers: h.bearer(user) });
}

async function settled(tenant: string, id: string): Promise<Run> {
  for (let i = 0; i < 600; i++) {
    const res = await get(owner, tenant, id);
    const run = res.json() as Run;
    if (run.status === 'completed') return run;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${id} did not complete`);
}

async function list(user: TestUser, tenant: string, query: string) {
  return h.app.inject({ url: `${base(tenant)}?${query}`, headers: h.bearer(user) });
}

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType(log), flaky] });
  tenantA = await h.ledger.createTenant('A');
  tenantB = await h.ledger.createTenant('B');
  owner = await h.user('owner', { [tenantA]: 'owner' });
  operator = await h.user('operator', { [tenantA]: 'operator' });
  viewer = await h.user('viewer', { [tenantA]: 'viewer' });
  stranger = await h.user('stranger');
  ownerB = await h.user('ownerb', { [tenantB]: 'owner' });
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

describe('run numbers', () => {
  it('are 1, 2, 3… per tenant, distinct under 40 concurrent starts, and never shared across tenants', async () => {
    const first = await start(owner, tenantA, { key: 'n-first' });
    const firstB = await start(ownerB, tenantB, { key: 'n-first' });
    expect(firstB.number).toBe(1);
    const runs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => start(i % 2 ? owner : operator, tenantA, { key: `n-${i}` })),
    );
    const numbers = runs.map((r) => r.number).sort((a, b) => a - b);
    expect(new Set(numbers).size).toBe(40);
    expect(numbers[0]).toBeGreaterThan(first.number);
    expect(numbers.at(-1)).toBe(first.number + 40);
    // The same number in another tenant is another run, and this tenant never sees it.
    const res = await list(owner, tenantA, `q=%23${firstB.number}`);
    expect(res.json().data.map((r: Run) => r.id)).not.toContain(firstB.id);
  });

  it('an identical start that finds the active run gets its number, and the number never changes', async () => {
    const a = await start(owner, tenantA, { key: 'same', sleepMs: 2000 });
    const again = await h.app.inject({
      method: 'POST',
      url: base(tenantA),
      headers: h.bearer(owner),
      payload: { type: 'test.task', inputs: { key: 'same', sleepMs: 2000 } },
    });
    expect(again.statusCode).toBe(200);
    expect(again.json().run.number).toBe(a.number);
    const done = await settled(tenantA, a.id);
    expect(done.number).toBe(a.number);
    await expect(
      sql`update operation_runs set run_number = run_number + 1000 where id = ${a.id}`.execute(
        h.ledger.database.db,
      ),
    ).rejects.toThrow();
  });

  it('q=#N and q=N find the run by number; a number of another tenant finds nothing', async () => {
    const run = await start(owner, tenantA, { key: 'searched' });
    const hash = await list(viewer, tenantA, `q=%23${run.number}`);
    expect(hash.statusCode).toBe(200);
    expect(hash.json().data.map((r: Run) => r.id)).toEqual([run.id]);
    const bare = await list(viewer, tenantA, `q=${run.number}`);
    expect(bare.json().data.map((r: Run) => r.id)).toContain(run.id);
    // The full id still works, and a prefix of it too.
    expect((await list(viewer, tenantA, `q=${run.id}`)).json().data.map((r: Run) => r.id)).toEqual([run.id]);
    const none = await list(ownerB, tenantB, `q=%23${run.number + 500}`);
    expect(none.json().data).toEqual([]);
    for (const bad of ['%23', '%23abc', '%2312345678901', '%23-1']) {
      const res = await list(viewer, tenantA, `q=${bad}`);
      expect(res.statusCode, bad).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
    }
  });

  it('every run has a title from its type (the label without a describer) and no tag', async () => {
    const run = await start(owner, tenantA, { key: 'titled' });
    expect(run.title).toBe('Test task');
    expect(run.tag).toBeNull();
  });
});

describe('the person filter and the bounded count', () => {
  it('initiatorUserId=me lists the caller’s own runs only; a user id lists theirs; junk is a 400', async () => {
    const mine = await start(operator, tenantA, { key: 'mine-1' });
    const res = await list(operator, tenantA, 'initiatorUserId=me&limit=200');
    expect(res.statusCode).toBe(200);
    const data = res.json().data as Run[];
    expect(data.map((r) => r.id)).toContain(mine.id);
    expect(data.every((r) => r.initiator.userId === operator.id)).toBe(true);
    const byOwner = (await list(viewer, tenantA, `initiatorUserId=${owner.id}&limit=200`)).json()
      .data as Run[];
    expect(byOwner.length).toBeGreaterThan(0);
    expect(byOwner.every((r) => r.initiator.userId === owner.id)).toBe(true);
    // Another tenant's member as the person: nothing of theirs is here, and nothing leaks.
    expect((await list(viewer, tenantA, `initiatorUserId=${ownerB.id}`)).json().data).toEqual([]);
    const bad = await list(viewer, tenantA, 'initiatorUserId=someone');
    expect(bad.statusCode).toBe(400);
  });

  it('count answers the filters’ total, capped at 1,000 with capped=true', async () => {
    const all = await h.app.inject({ url: `${base(tenantA)}/count`, headers: h.bearer(viewer) });
    expect(all.statusCode).toBe(200);
    const listed = (await list(viewer, tenantA, 'limit=200')).json().data.length;
    expect(all.json()).toEqual({ total: listed, capped: false });
    const mine = await h.app.inject({
      url: `${base(tenantA)}/count?initiatorUserId=me`,
      headers: h.bearer(operator),
    });
    expect(mine.json().total).toBe(
      (await list(operator, tenantA, 'initiatorUserId=me&limit=200')).json().data.length,
    );
    // 1,001 runs of a tenant of its own, inserted in one statement: the count stops at the cap.
    const big = await h.ledger.createTenant('Big');
    const bigOwner = await h.user('big', { [big]: 'owner' });
    await sql`insert into operation_runs (id, tenant_id, type, run_identity_hash, initiator_kind, context,
                summary_counts, failure_summary, max_attempts, status, outcome, started_at, completed_at)
              select gen_random_uuid(), ${big}, 'test.task', md5(g::text) || md5(g::text), 'system', '{}', '{}', '[]', 1,
                     'completed', 'succeeded', now(), now()
              from generate_series(1, 1001) g`.execute(h.ledger.database.db);
    const capped = await h.app.inject({ url: `${base(big)}/count`, headers: h.bearer(bigOwner) });
    expect(capped.json()).toEqual({ total: 1000, capped: true });
    const numbers = await sql<{ n: number; d: number }>`
      select count(*)::int as n, count(distinct run_number)::int as d from operation_runs where tenant_id = ${big}`.execute(
      h.ledger.database.db,
    );
    expect(numbers.rows[0]).toEqual({ n: 1001, d: 1001 });
  });
});

describe('bulk cancel and bulk retry', () => {
  it('bulk retry of three failed runs starts three retries, once: a second request answers already_retried', async () => {
    const keys = [1, 2, 3].map((i) => `bulk-fail-${i}`);
    const failed = await Promise.all(keys.map((key) => start(owner, tenantA, { key }, 'test.flaky')));
    for (const r of failed) expect((await settled(tenantA, r.id)).outcome).toBe('failed');
    for (const key of keys) healed.add(key);
    const unknown = randomUUID();
    const foreign = (await start(ownerB, tenantB, { key: 'foreign' })).id;
    const ids = [...failed.map((r) => r.id), unknown, foreign, 'not-a-uuid'];
    const res = await h.app.inject({
      method: 'POST',
      url: `${base(tenantA)}/bulk-retry`,
      headers: h.bearer(operator),
      payload: { runIds: ids },
    });
    expect(res.statusCode, res.body).toBe(200);
    const results = res.json().results as { runId: string; result: string; run?: Run }[];
    expect(results.map((r) => r.result)).toEqual([
      'retried',
      'retried',
      'retried',
      'not_found',
      'not_found',
      'not_found',
    ]);
    // Unknown and foreign ids answer exactly alike: nothing says the foreign one exists.
    expect(Object.keys(results[3]!).sort()).toEqual(Object.keys(results[4]!).sort());
    expect(JSON.stringify(results[4])).not.toContain('B');
    for (const [i, r] of results.slice(0, 3).entries()) expect(r.run!.retryOf).toBe(failed[i]!.id);

    const again = await h.app.inject({
      method: 'POST',
      url: `${base(tenantA)}/bulk-retry`,
      headers: h.bearer(operator),
      payload: { runIds: failed.map((r) => r.id) },
    });
    const second = again.json().results as { result: string; run: Run }[];
    expect(second.map((r) => r.result)).toEqual(['already_retried', 'already_retried', 'already_retried']);
    expect(second.map((r) => r.run.id)).toEqual(results.slice(0, 3).map((r) => r.run!.id));

    // The original's detail names its retries: lineage both ways.
    const detail = (await get(viewer, tenantA, failed[0]!.id)).json();
    expect(detail.retries.map((r: { id: string }) => r.id)).toEqual([results[0]!.run!.id]);
    const retriedRows = await sql<{ n: number }>`
      select count(*)::int as n from operation_runs where tenant_id = ${tenantA}
      and retry_of_run_id in (${sql.join(failed.map((r) => r.id))})`.execute(h.ledger.database.db);
    expect(retriedRows.rows[0]!.n).toBe(3);
  });

  it('two bulk retries of the same runs at once start one retry per run', async () => {
    const keys = ['race-1', 'race-2'];
    const failed = await Promise.all(keys.map((key) => start(owner, tenantA, { key }, 'test.flaky')));
    for (const r of failed) expect((await settled(tenantA, r.id)).outcome).toBe('failed');
    for (const key of keys) healed.add(key);
    const send = () =>
      h.app.inject({
        method: 'POST',
        url: `${base(tenantA)}/bulk-retry`,
        headers: h.bearer(owner),
        payload: { runIds: failed.map((r) => r.id) },
      });
    const [a, b] = await Promise.all([send(), send()]);
    for (const res of [a, b]) expect(res.statusCode).toBe(200);
    const answers = [...a.json().results, ...b.json().results].map((r: { result: string }) => r.result);
    expect(answers.sort()).toEqual(['already_retried', 'already_retried', 'retried', 'retried']);
    // Each original has one retry, whichever request started it.
    const all = await sql<{ n: number }>`
      select count(*)::int as n from operation_runs where tenant_id = ${tenantA}
      and retry_of_run_id in (${sql.join(failed.map((r) => r.id))})`.execute(h.ledger.database.db);
    expect(all.rows[0]!.n).toBe(2);
  });

  it('bulk cancel cancels queued and running runs, reports completed ones, and repeats harmlessly', async () => {
    const waiting = await start(owner, tenantA, { key: 'bulk-wait', waitForAbort: true });
    const done = await start(owner, tenantA, { key: 'bulk-done' });
    await settled(tenantA, done.id);
    const ids = [waiting.id, done.id, randomUUID()];
    const send = () =>
      h.app.inject({
        method: 'POST',
        url: `${base(tenantA)}/bulk-cancel`,
        headers: h.bearer(operator),
        payload: { runIds: ids },
      });
    const first = (await send()).json().results as { result: string }[];
    expect(['cancelled', 'cancel_requested']).toContain(first[0]!.result);
    expect(first.slice(1).map((r) => r.result)).toEqual(['already_completed', 'not_found']);
    expect((await settled(tenantA, waiting.id)).outcome).toBe('cancelled');
    const second = (await send()).json().results as { result: string }[];
    expect(second.map((r) => r.result)).toEqual(['already_completed', 'already_completed', 'not_found']);
  });

  it('role matrix: owner and operator may, viewer gets 403, a non-member and another tenant get 404', async () => {
    const run = await start(owner, tenantA, { key: 'roles', failTimes: -1 });
    await settled(tenantA, run.id);
    for (const path of ['bulk-cancel', 'bulk-retry']) {
      const as = (user: TestUser, tenant = tenantA) =>
        h.app.inject({
          method: 'POST',
          url: `${base(tenant)}/${path}`,
          headers: h.bearer(user),
          payload: { runIds: [run.id] },
        });
      expect((await as(viewer)).statusCode, path).toBe(403);
      expect((await as(stranger)).statusCode, path).toBe(404);
      expect((await as(ownerB)).statusCode, path).toBe(404);
      // Through B's own tenant, A's run is simply not found.
      const viaB = await as(ownerB, tenantB);
      expect(viaB.statusCode).toBe(200);
      expect(viaB.json().results).toEqual([{ runId: run.id, result: 'not_found' }]);
      expect((await as(operator)).statusCode, path).toBe(200);
      expect((await as(owner)).statusCode, path).toBe(200);
    }
  });

  it('bad bodies are 400 problems: empty, over 100 ids, extra fields, not JSON', async () => {
    const post = (payload: unknown) =>
      h.app.inject({
        method: 'POST',
        url: `${base(tenantA)}/bulk-cancel`,
        headers: { ...h.bearer(owner), 'content-type': 'application/json' },
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      });
    for (const body of [
      {},
      { runIds: [] },
      { runIds: Array.from({ length: 101 }, () => randomUUID()) },
      { runIds: [randomUUID()], extra: 1 },
      '{"runIds": [',
    ]) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
    }
  });

  it('redaction: a retried run’s failure text and a bulk answer carry no secret of the corpus', async () => {
    for (const [message, secrets] of CORPUS.slice(0, 12)) {
      const run = await start(owner, tenantA, {
        key: `secret-${randomUUID()}`,
        failTimes: -1,
        errorMessage: message,
      });
      await settled(tenantA, run.id);
      const res = await h.app.inject({
        method: 'POST',
        url: `${base(tenantA)}/bulk-retry`,
        headers: h.bearer(owner),
        payload: { runIds: [run.id] },
      });
      const detail = (await get(owner, tenantA, run.id)).body;
      for (const s of secrets) {
        expect(res.body).not.toContain(s);
        expect(detail).not.toContain(s);
      }
    }
  });
});

describe('insights for the Overview', () => {
  it('failure rate per type with the window before, latest failures and slowest runs, hourly counts; isolated', async () => {
    const res = await h.app.inject({
      url: `${base(tenantA)}/insights?window=24h`,
      headers: h.bearer(viewer),
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as {
      failureRates: { type: string; total: number; failed: number; previousTotal: number }[];
      recentFailures: Run[];
      slowest: (Run & { durationMs: number })[];
      hours: { hour: string; type: string; counts: Record<string, number> }[];
    };
    const listed = (await list(viewer, tenantA, 'type=test.flaky&limit=200')).json().data as Run[];
    const flaky = body.failureRates.find((r) => r.type === 'test.flaky')!;
    expect(flaky.total).toBe(listed.length);
    expect(flaky.failed).toBe(listed.filter((r) => r.outcome === 'failed').length);
    expect(flaky.previousTotal).toBe(0);
    expect(body.recentFailures.length).toBeGreaterThan(0);
    expect(body.recentFailures.every((r) => r.outcome === 'failed')).toBe(true);
    const durations = body.slowest.map((r) => r.durationMs);
    expect(durations).toEqual([...durations].sort((a, b) => b - a));
    const hourly = body.hours.filter((x) => x.type === 'test.flaky');
    expect(hourly.every((x) => /^\d{4}-\d{2}-\d{2}T\d{2}:00Z$/.test(x.hour))).toBe(true);
    expect(hourly.reduce((a, x) => a + Object.values(x.counts).reduce((p, q) => p + q, 0), 0)).toBe(
      flaky.total,
    );
    // Other windows have no hourly series; B sees none of A's runs; a non-member gets 404.
    const week = (
      await h.app.inject({ url: `${base(tenantA)}/insights?window=7d`, headers: h.bearer(viewer) })
    ).json();
    expect(week.hours).toEqual([]);
    const other = (
      await h.app.inject({ url: `${base(tenantB)}/insights`, headers: h.bearer(ownerB) })
    ).json();
    expect(other.failureRates.find((r: { type: string }) => r.type === 'test.flaky')).toBeUndefined();
    expect(JSON.stringify(other)).not.toContain(tenantA);
    const stray = await h.app.inject({ url: `${base(tenantA)}/insights`, headers: h.bearer(stranger) });
    expect(stray.statusCode).toBe(404);
    const bad = await h.app.inject({ url: `${base(tenantA)}/insights?window=1y`, headers: h.bearer(viewer) });
    expect(bad.statusCode).toBe(400);
  });
});
