// The per-run event log, end to end: a real ledger with the suite's operation types on the Graph
// simulator (throttling and failures injected), the real queue and worker, the real HTTP app (its
// routes through app.inject, its stream over a real socket), and `opsledger runs watch` / `runs
// view --log` as child processes against it. Both databases.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphSimulator, type GraphSimulator } from '../src/graph/simulator.ts';
import type { HttpApp } from '../src/http/app.ts';
import { LEDGER_EVENT_KINDS, type RunEvent } from '../src/ledger/event-log.ts';
import { createHttpServer } from '../src/main/http.ts';
import { createLogger } from '../src/shared/logger.ts';
import { pruneRuns } from '../src/worker/maintenance.ts';
import { runCli } from './helpers/api-cli.ts';
import { CORPUS } from './helpers/secret-corpus.ts';
import { openStream, until } from './helpers/sse.ts';
import { findInDatabase, type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

const SECRET = 'Ev3nts~Cl1ent.Secret_1a2b3c4d5e6f';
const DIRECTORY = '5e0d1c2b-3a49-4f58-8e67-7d86c5b4a392';
const SCOPE = ['deviceConfigurations', 'compliancePolicies'];

let sim: GraphSimulator;
let ledger: SuiteLedger;
let app: HttpApp;
let url: string;
let tenant: string;
let other: string;
const users: Record<string, { token: string }> = {};

const auth = (who: string) => ({ authorization: `Bearer ${users[who]!.token}` });
const eventsOf = async (runId: string, query = '', who = 'viewer', tenantId = tenant) =>
  app.inject({
    method: 'GET',
    url: `/api/v1/tenants/${tenantId}/operations/${runId}/events${query}`,
    headers: auth(who),
  });
/** The run's completion event is written just after its row completes: wait for it. */
async function completedEvents(runId: string, tenantId = tenant): Promise<void> {
  await until(
    async () =>
      (await ledger.eventLog.after(tenantId, runId, null, 2000)).some((e) => e.kind === 'run.completed'),
    30_000,
    'the run.completed event',
  );
}
async function allEvents(runId: string): Promise<RunEvent[]> {
  const res = await eventsOf(runId, '?limit=500');
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
}

beforeAll(async () => {
  sim = createGraphSimulator({ pageSize: 5, defaultPolicyCount: 4 });
  await sim.start();
  sim.registerTenant(DIRECTORY, { clientId: 'app-events', clientSecret: SECRET });
  ledger = await startSuiteLedger({ simulator: sim });
  tenant = await ledger.createTenant('Contoso');
  other = await ledger.createTenant('Fabrikam');
  await ledger.suite.connections.set(tenant, {
    directoryId: DIRECTORY,
    clientId: 'app-events',
    clientSecret: SECRET,
  });
  app = await createHttpServer(ledger, {
    suite: false,
    limits: { requestsPerMinute: 1_000_000, startsPerMinute: 100_000 },
    streamHeartbeatMs: 1000,
  });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  const roles = { owner: 'owner', operator: 'operator', viewer: 'viewer' } as const;
  for (const [name, role] of Object.entries(roles)) {
    const u = await app.opsledger.access.createUser({
      email: `${name}-${process.pid}@events.test`,
      password: `pw-${name}-events-1`,
      displayName: name,
    });
    await app.opsledger.access.addMember(tenant, `${name}-${process.pid}@events.test`, role);
    users[name] = { token: (await app.opsledger.credentials.createToken(u.id, name)).secret };
  }
  const outsider = await app.opsledger.access.createUser({
    email: `outsider-${process.pid}@events.test`,
    password: 'pw-outsider-events-1',
    displayName: 'outsider',
  });
  await app.opsledger.access.addMember(other, `outsider-${process.pid}@events.test`, 'owner');
  users.outsider = { token: (await app.opsledger.credentials.createToken(outsider.id, 'o')).secret };
}, 180_000);

afterAll(async () => {
  await app?.close();
  await ledger?.stop();
  await sim?.stop();
});

describe('a run whose Graph calls are throttled and partly fail', () => {
  let runId = '';

  it('shows its attempts, the waits, the retry with its reason and the per-item failures, in order', async () => {
    // Attempt 1: deviceConfigurations answers 500 once and compliancePolicies is forbidden, so no
    // family can be read and the attempt fails. Attempt 2: deviceConfigurations is throttled twice
    // (Retry-After: 1) and then read; compliancePolicies is still forbidden: partially succeeded.
    sim.injectFault(DIRECTORY, 'deviceConfigurations', { kind: 'error', status: 500, times: 1 });
    sim.injectFault(DIRECTORY, 'compliancePolicies', { kind: 'error', status: 403 });
    sim.injectFault(DIRECTORY, 'deviceConfigurations', {
      kind: 'throttle',
      status: 429,
      retryAfterSeconds: 1,
      times: 2,
    });
    const run = await ledger.run(tenant, 'inventory.sync', { scope: SCOPE });
    sim.clearFaults(DIRECTORY);
    runId = run.id;
    expect(run).toMatchObject({ outcome: 'partially_succeeded', attempts: 2 });
    await completedEvents(run.id);

    const events = await allEvents(run.id);
    const line = (e: RunEvent) =>
      `${e.attempt} ${e.kind} ${String(e.data.item ?? e.data.reason ?? e.data.outcome ?? '')}`;
    const story = events.map(line);
    expect(story).toEqual([
      '1 attempt.started ',
      '1 item.failed compliancePolicies',
      '1 item.failed deviceConfigurations',
      '1 attempt.failed ',
      `1 retry.scheduled ${events.find((e) => e.kind === 'retry.scheduled')?.data.reason}`,
      '2 attempt.started ',
      '2 item.failed compliancePolicies',
      '2 graph.throttled ',
      '2 graph.throttled ',
      '2 progress deviceConfigurations',
      '2 run.completed partially_succeeded',
    ]);
    const retry = events.find((e) => e.kind === 'retry.scheduled')!;
    expect(retry).toMatchObject({ level: 'warn', data: { delaySeconds: 0, nextAttempt: 2 } });
    expect(retry.data.reason).toMatch(/^graph_/);
    expect(retry.message).toMatch(/^retry scheduled in 0s as attempt 2 of 3, because graph_/);
    const waits = events.filter((e) => e.kind === 'graph.throttled');
    for (const w of waits) {
      expect(w).toMatchObject({ level: 'warn', data: { status: 429, waitMs: 1000, retryAfter: '1' } });
      expect(w.message).toMatch(
        /deviceConfigurations was throttled with HTTP 429; waiting 1000 ms before try/,
      );
    }
    expect(events.filter((e) => e.kind === 'item.failed').map((e) => e.data.code)).toEqual([
      'graph_forbidden',
      expect.stringMatching(/^graph_/),
      'graph_forbidden',
    ]);
    // Ids are time-ordered and the page is in id order.
    expect([...events.map((e) => e.id)].sort()).toEqual(events.map((e) => e.id));
  });

  it('its failure entries carry the attempt, the item and a stable code; the detail groups them by code', async () => {
    const res = await app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${tenant}/operations/${runId}`,
      headers: auth('viewer'),
    });
    const run = res.json();
    expect(res.statusCode, res.body).toBe(200);
    expect(run.attempts).toBe(2);
    expect(run.failureSummary).toEqual([
      {
        code: 'graph_forbidden',
        message: expect.stringMatching(/^compliancePolicies: Graph GET .* failed with HTTP 403/),
        attempt: 2,
        item: 'compliancePolicies',
      },
    ]);
    // Attempt numbers agree everywhere: every entry's attempt is one the run made.
    for (const f of run.failureSummary) expect(f.attempt).toBeLessThanOrEqual(run.attempts);
    expect(run.failureGroups).toEqual([{ code: 'graph_forbidden', count: 1 }]);
  });

  it('pages with a cursor, and filters by minimum level and by attempt', async () => {
    const all = await allEvents(runId);
    const seen: RunEvent[] = [];
    let cursor: string | null = null;
    do {
      const res = await eventsOf(runId, `?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page: { data: RunEvent[]; nextCursor: string | null } = res.json();
      expect(page.data.length).toBeLessThanOrEqual(4);
      seen.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.map((e) => e.id)).toEqual(all.map((e) => e.id));

    const errors: RunEvent[] = (await eventsOf(runId, '?level=error')).json().data;
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.level === 'error')).toBe(true);
    const warned: RunEvent[] = (await eventsOf(runId, '?level=warn')).json().data;
    expect(new Set(warned.map((e) => e.level))).toEqual(new Set(['warn', 'error']));
    const second: RunEvent[] = (await eventsOf(runId, '?attempt=2')).json().data;
    expect(second.length).toBe(all.filter((e) => e.attempt === 2).length);
    expect(second.every((e) => e.attempt === 2)).toBe(true);
  });

  it('refuses bad input with a problem and changes nothing', async () => {
    for (const query of [
      '?cursor=not-a-cursor',
      '?level=debug',
      '?limit=0',
      '?limit=501',
      '?attempt=-1',
      '?extra=1',
    ]) {
      const res = await eventsOf(runId, query);
      expect({ query, status: res.statusCode }).toEqual({ query, status: 400 });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
  });

  it('the role matrix: every member reads, another tenant and unknown runs are the same 404, no credentials 401', async () => {
    for (const who of ['owner', 'operator', 'viewer'])
      expect({ who, status: (await eventsOf(runId, '', who)).statusCode }).toEqual({ who, status: 200 });
    const foreign = await eventsOf(runId, '', 'outsider');
    const foreignViaOwnTenant = await eventsOf(runId, '', 'outsider', other);
    const unknown = await eventsOf('0190a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b');
    expect(foreign.statusCode).toBe(404);
    expect(foreignViaOwnTenant.statusCode).toBe(404);
    expect(unknown.statusCode).toBe(404);
    expect(foreignViaOwnTenant.json().detail).toBe(unknown.json().detail);
    const anonymous = await app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${tenant}/operations/${runId}/events`,
    });
    expect(anonymous.statusCode).toBe(401);
    const foreignStream = await fetch(`${url}/api/v1/tenants/${other}/operations/${runId}/events/stream`, {
      headers: auth('outsider'),
    });
    expect(foreignStream.status).toBe(404);
  });

  it('leaves the client secret nowhere', async () => {
    expect(await findInDatabase(ledger, [SECRET])).toEqual([]);
  });
});

describe('what an operation type logs', () => {
  it('is stored redacted: no secret of the corpus reaches the table or the API', async () => {
    const run = await ledger.run(other, 'backup.create', { name: 'redaction' });
    await completedEvents(run.id, other);
    const log = ledger.eventLog.forAttempt(other, run.id, 1);
    for (const [message] of CORPUS) log.warn(message, { detail: message });
    await log.close();
    const needles = CORPUS.flatMap(([, secrets]) => secrets);
    expect(await findInDatabase(ledger, needles)).toEqual([]);
    const stored = await ledger.database.db
      .selectFrom('operation_run_events')
      .select(['message'])
      .where('tenant_id', '=', other)
      .where('run_id', '=', run.id)
      .where('kind', '=', 'log')
      .execute();
    expect(stored).toHaveLength(CORPUS.length);
    expect(stored.some((r) => r.message.includes('[REDACTED]'))).toBe(true);
    const res = await app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${other}/operations/${run.id}/events?limit=500`,
      headers: auth('outsider'),
    });
    for (const needle of needles) expect(res.body).not.toContain(needle);
  });

  it('is capped per run with one final "N more events dropped" event; the ledger\'s own events still land', async () => {
    const run = await ledger.run(other, 'backup.create', { name: 'cap' });
    await completedEvents(run.id, other);
    const log = ledger.eventLog.forAttempt(other, run.id, 1);
    const cap = ledger.eventLog.cap;
    const extra = cap + 250;
    for (let i = 0; i < extra; i++) log.info(`line ${i}`, { i });
    log.event('run.completed', 'info', 'a ledger event after the cap');
    await log.close();
    const count = await sql<{ kind: string; n: number }>`
      select kind, count(*)::int as n from operation_run_events
      where tenant_id = ${other} and run_id = ${run.id} group by kind`.execute(ledger.database.db);
    const byKind = Object.fromEntries(count.rows.map((r) => [r.kind, r.n]));
    // What the run's attempts logged themselves (Graph retries) counts against the same cap.
    const cappedByRun = count.rows
      .filter((r) => r.kind !== 'log' && r.kind !== 'events.dropped')
      .filter((r) => !(LEDGER_EVENT_KINDS as readonly string[]).includes(r.kind))
      .reduce((n, r) => n + r.n, 0);
    const kept = cap - cappedByRun;
    expect(byKind.log).toBe(kept);
    expect(byKind['events.dropped']).toBe(1);
    const [dropped] = await ledger.database.db
      .selectFrom('operation_run_events')
      .select(['message', 'data'])
      .where('tenant_id', '=', other)
      .where('run_id', '=', run.id)
      .where('kind', '=', 'events.dropped')
      .execute();
    expect(dropped!.data).toEqual({ dropped: extra - kept });
    expect(dropped!.message).toBe(`${extra - kept} more events dropped (the log keeps ${cap} per run)`);
    // The lines kept are the first ones, in order.
    const lines = (await ledger.eventLog.after(other, run.id, null, 2000)).filter((e) => e.kind === 'log');
    expect(lines.map((e) => e.data.i)).toEqual(Array.from({ length: kept }, (_, i) => i));
    expect(byKind['run.completed']).toBe(2);
  });

  it('is pruned with its run', async () => {
    const run = await ledger.run(other, 'backup.create', { name: 'pruned' });
    const n = async () =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from operation_run_events where tenant_id = ${other} and run_id = ${run.id}`.execute(
          ledger.database.db,
        )
      ).rows[0]!.n;
    expect(await n()).toBeGreaterThan(0);
    await pruneRuns({
      database: ledger.database,
      retentionDays: 1,
      now: () => new Date(Date.now() + 2 * 86_400_000),
      logger: createLogger({ level: 'silent' }),
    });
    expect(await n()).toBe(0);
  });
});

describe('live', () => {
  it("follows a run's events over SSE as they are written, in order, each once", async () => {
    sim.injectFault(DIRECTORY, 'deviceConfigurations', {
      kind: 'throttle',
      status: 429,
      retryAfterSeconds: 1,
      times: 1,
    });
    const { run } = await ledger.service.start({
      tenantId: tenant,
      type: 'inventory.sync',
      inputs: { scope: ['deviceConfigurations'] },
      initiator: { kind: 'system' },
    });
    const stream = openStream(
      `${url}/api/v1/tenants/${tenant}/operations/${run.id}/events/stream`,
      users.viewer!.token,
    );
    const res = await stream.ready;
    expect(res.status).toBe(200);
    await until(
      () => stream.events('event').some((e) => e.data.kind === 'run.completed'),
      60_000,
      'the completion event',
    );
    sim.clearFaults(DIRECTORY);
    const streamed = stream.events('event').map((e) => e.data as RunEvent);
    stream.close();
    expect(streamed.map((e) => e.kind)).toEqual([
      'attempt.started',
      'graph.throttled',
      'progress',
      'run.completed',
    ]);
    expect(streamed.map((e) => e.id)).toEqual((await allEvents(run.id)).map((e) => e.id));
  });

  it('`opsledger runs watch` prints the events as they arrive; `runs view --log` prints them all', async () => {
    // The run waits on a throttled page so the watch is open before most of its events are written.
    sim.injectFault(DIRECTORY, 'deviceConfigurations', {
      kind: 'throttle',
      status: 429,
      retryAfterSeconds: 1,
      times: 2,
    });
    const { run } = await ledger.service.start({
      tenantId: tenant,
      type: 'inventory.sync',
      inputs: { scope: ['deviceConfigurations'] },
      initiator: { kind: 'system' },
    });
    const env = { OPSLEDGER_URL: url, OPSLEDGER_TOKEN: users.viewer!.token };
    const watched = await runCli(['runs', 'watch', run.id, '--tenant', tenant], env, 90_000);
    sim.clearFaults(DIRECTORY);
    expect(watched.code, watched.stderr).toBe(0);
    const lines = watched.stdout.split('\n');
    const kinds = ['attempt.started', 'graph.throttled', 'progress', 'run.completed'];
    const at = kinds.map((k) => lines.findIndex((l) => l.includes(` ${k} `)));
    expect(
      at.every((i) => i >= 0),
      watched.stdout,
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(lines.filter((l) => l.includes(' graph.throttled '))).toHaveLength(2);
    expect(watched.stdout).toMatch(/#1 WARN {2}graph\.throttled +Graph GET .* was throttled with HTTP 429/);

    const viewed = await runCli(['runs', 'view', run.id, '--tenant', tenant, '--log'], env);
    expect(viewed.code, viewed.stderr).toBe(0);
    expect(viewed.stdout).toContain('events');
    for (const k of kinds) expect(viewed.stdout).toContain(` ${k} `);
  }, 120_000);
});
