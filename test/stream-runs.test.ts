import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
let h: ApiHarness;
let base: string;
let tenantA: string;
let tenantB: string;
let alice: TestUser;
let bob: TestUser;

type Received = { event: string; data: any; at: number } | { comment: string; at: number };

/** A real EventSource-style reader over fetch: records every event and comment with its arrival time. */
function subscribe(tenantId: string, user: TestUser) {
  const controller = new AbortController();
  const received: Received[] = [];
  const state = { ended: false };
  const ready = fetch(`${base}/api/v1/tenants/${tenantId}/operations/stream`, {
    headers: { authorization: `Bearer ${user.token}`, accept: 'text/event-stream' },
    signal: controller.signal,
  }).then(async (res) => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const pump = async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            state.ended = true;
            return;
          }
          buffer += decoder.decode(value, { stream: true });
          let cut = buffer.indexOf('\n\n');
          while (cut >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const at = Date.now();
            const lines = block.split('\n');
            const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
            const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
            if (event && data) received.push({ event, data: JSON.parse(data), at });
            for (const l of lines.filter((x) => x.startsWith(':')))
              received.push({ comment: l.slice(1).trim(), at });
            cut = buffer.indexOf('\n\n');
          }
        }
      } catch {
        // aborted
      }
    };
    void pump();
    return res;
  });
  return { ready, received, state, close: () => controller.abort() };
}

const runEvents = (received: Received[]) =>
  received.filter((r): r is { event: string; data: any; at: number } => 'event' in r && r.event === 'run');

async function until(check: () => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  h = await startApiHarness({
    definitions: [testTaskType(log)],
    http: { streamHeartbeatMs: 200, streamRecheckMs: 300 },
  });
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  tenantA = await h.ledger.createTenant('A');
  tenantB = await h.ledger.createTenant('B');
  alice = await h.user('alice', { [tenantA]: 'operator' });
  bob = await h.user('bob', { [tenantB]: 'operator' });
});
afterAll(async () => {
  await h?.stop();
});

describe('run stream', () => {
  it("a subscriber of A sees A's run go queued → running → completed promptly, and nothing of B", async () => {
    const sub = subscribe(tenantA, alice);
    onTestFinished(() => sub.close());
    const res = await sub.ready;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    await until(() => sub.received.some((r) => 'comment' in r && r.comment === 'connected'));

    const startB = fetch(`${base}/api/v1/tenants/${tenantB}/operations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'test.task', inputs: { key: 'b-run', sleepMs: 300 } }),
    });
    const startA = await fetch(`${base}/api/v1/tenants/${tenantA}/operations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'test.task', inputs: { key: 'a-run', sleepMs: 1200 } }),
    });
    expect(startA.status).toBe(202);
    const runA = ((await startA.json()) as { run: { id: string } }).run.id;
    const runB = ((await (await startB).json()) as { run: { id: string } }).run.id;
    await until(() =>
      runEvents(sub.received).some((e) => e.data.id === runA && e.data.status === 'completed'),
    );
    await h.ledger.waitForRun(tenantB, runB, (r) => r.status === 'completed');
    await new Promise((r) => setTimeout(r, 300));

    const events = runEvents(sub.received);
    expect(events.every((e) => e.data.tenantId === tenantA)).toBe(true);
    expect(events.some((e) => e.data.id === runB)).toBe(false);
    const mine = events.filter((e) => e.data.id === runA);
    // Progress reports repeat a status with new counts; the transitions are what must all show.
    const statuses = mine.map((e) => e.data.status).filter((s, i, all) => i === 0 || all[i - 1] !== s);
    expect(statuses).toEqual(['queued', 'running', 'completed']);
    expect(mine.at(-1)!.data).toMatchObject({ outcome: 'succeeded', summaryCounts: { processed: 2 } });
    // Latency of each change to the subscriber, against the run's own timestamps.
    const final = mine.at(-1)!.data;
    const first = (status: string) => mine.find((e) => e.data.status === status)!.at;
    const latency = {
      queued: first('queued') - new Date(final.createdAt).getTime(),
      running: first('running') - new Date(final.startedAt).getTime(),
      completed: first('completed') - new Date(final.completedAt).getTime(),
    };
    // Reported, not asserted: latency depends on how busy the machine is (npm run bench measures it).
    console.log(`[stream latency ms] ${JSON.stringify(latency)}`);
    sub.close();
  });

  it('changes made outside this process arrive through the database notification', async () => {
    const sub = subscribe(tenantA, alice);
    onTestFinished(() => sub.close());
    await sub.ready;
    await until(() => sub.received.some((r) => 'comment' in r && r.comment === 'connected'));
    const start = await h.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenantA}/operations`,
      headers: h.bearer(alice),
      payload: { type: 'test.task', inputs: { key: 'outside', waitForAbort: true } },
    });
    const id = start.json().run.id;
    await h.ledger.waitForRun(tenantA, id, (r) => r.status === 'running');
    // Another process's write: no in-process event, only the trigger's NOTIFY.
    await sql`update operation_runs set summary_counts = '{"processed": 41, "failed": 0}'::jsonb where id = ${id}`.execute(
      h.ledger.database.db,
    );
    await until(() =>
      runEvents(sub.received).some((e) => e.data.id === id && e.data.summaryCounts.processed === 41),
    );
    await h.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenantA}/operations/${id}/cancel`,
      headers: h.bearer(alice),
    });
    await until(() => runEvents(sub.received).some((e) => e.data.id === id && e.data.status === 'completed'));
    expect(
      runEvents(sub.received)
        .filter((e) => e.data.id === id)
        .at(-1)!.data.outcome,
    ).toBe('cancelled');
    sub.close();
  });

  it('sends heartbeats, and a client that disconnects leaves no subscriber behind', async () => {
    const subs = [subscribe(tenantA, alice), subscribe(tenantA, alice), subscribe(tenantB, bob)];
    await Promise.all(subs.map((s) => s.ready));
    await until(() => h.app.opsledger.hub.size >= 3);
    await until(() =>
      subs.every((s) => s.received.filter((r) => 'comment' in r && r.comment === 'heartbeat').length >= 2),
    );
    for (const s of subs) s.close();
    await until(() => h.app.opsledger.hub.size === 0, 5000);
    expect(h.app.opsledger.hub.size).toBe(0);
  });

  it('closes the stream of a caller whose token is revoked or whose membership ends', async () => {
    const carol = await h.user('carol', { [tenantA]: 'viewer' });
    const dave = await h.user('dave', { [tenantA]: 'viewer' });
    const subs = [subscribe(tenantA, carol), subscribe(tenantA, dave)];
    onTestFinished(() => {
      for (const s of subs) s.close();
    });
    await Promise.all(subs.map((s) => s.ready));
    await until(() => h.app.opsledger.hub.size >= 2);
    const tokens = await h.app.inject({ url: '/api/v1/me/tokens', headers: h.bearer(carol) });
    const revoke = await h.app.inject({
      method: 'DELETE',
      url: `/api/v1/me/tokens/${tokens.json().data[0].id}`,
      headers: h.bearer(carol),
    });
    expect(revoke.statusCode).toBe(204);
    await h.app.opsledger.access.removeMember(tenantA, dave.id);
    await until(() => subs.every((s) => s.state.ended), 5000);
    await until(() => h.app.opsledger.hub.size === 0, 5000);
  });

  it('refuses a caller without credentials (401) and a tenant the caller is not in (404)', async () => {
    const anon = await fetch(`${base}/api/v1/tenants/${tenantA}/operations/stream`);
    expect(anon.status).toBe(401);
    const foreign = await fetch(`${base}/api/v1/tenants/${tenantB}/operations/stream`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
