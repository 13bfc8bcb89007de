import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { testTaskType } from './helpers/test-types.ts';

let h: ApiHarness;
let base: string;
let tenantA: string;
let tenantB: string;
const open: AbortController[] = [];

/** Opens a stream over real HTTP; resolves with its status and whether the server later ended it. */
async function stream(tenantId: string, headers: Record<string, string>) {
  const controller = new AbortController();
  open.push(controller);
  const res = await fetch(`${base}/api/v1/tenants/${tenantId}/operations/stream`, {
    headers: { ...headers, accept: 'text/event-stream' },
    signal: controller.signal,
  });
  const state = { ended: false };
  if (res.status === 200) {
    const reader = res.body!.getReader();
    void (async () => {
      try {
        while (!(await reader.read()).done);
        state.ended = true;
      } catch {
        // aborted by the test
      }
    })();
  } else {
    await res.text();
  }
  return { status: res.status, res, state, close: () => controller.abort() };
}

async function until(check: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  h = await startApiHarness({
    definitions: [testTaskType({ started: [], aborted: [] })],
    worker: false,
    // The re-check is far away: ends below must come from the event itself, not the poll.
    http: {
      streamRecheckMs: 600_000,
      limits: { loginPerMinute: 1000, streams: { perUser: 3, perTenant: 5, perProcess: 7 } },
    },
  });
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  tenantA = await h.ledger.createTenant('Streams A');
  tenantB = await h.ledger.createTenant('Streams B');
});
afterAll(async () => {
  for (const c of open) c.abort();
  await h?.stop();
});

it('caps open streams per user, per tenant and per process with 429, and frees a place on close', async () => {
  const users: TestUser[] = [];
  for (let i = 0; i < 4; i++)
    users.push(await h.user(`viewer${i}`, { [tenantA]: 'viewer', [tenantB]: 'viewer' }));
  const [u0, u1, u2, u3] = users as [TestUser, TestUser, TestUser, TestUser];
  const mine = [];
  for (let i = 0; i < 3; i++) mine.push(await stream(tenantA, h.bearer(u0)));
  expect(mine.map((s) => s.status)).toEqual([200, 200, 200]);
  const over = await stream(tenantA, h.bearer(u0));
  expect(over.status).toBe(429);
  expect(over.res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(over.res.headers.get('retry-after'))).toBeGreaterThan(0);
  // Per tenant: 5 in A across users.
  expect((await stream(tenantA, h.bearer(u1))).status).toBe(200);
  expect((await stream(tenantA, h.bearer(u1))).status).toBe(200);
  expect((await stream(tenantA, h.bearer(u2))).status).toBe(429);
  // Per process: 7 in all, whatever the tenant.
  expect((await stream(tenantB, h.bearer(u2))).status).toBe(200);
  expect((await stream(tenantB, h.bearer(u2))).status).toBe(200);
  expect((await stream(tenantB, h.bearer(u3))).status).toBe(429);
  // The server keeps answering everyone else meanwhile.
  expect((await h.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  // A closed stream gives its place back.
  mine[0]!.close();
  await until(() => h.app.opsledger.streams.size === 6);
  expect((await stream(tenantB, h.bearer(u3))).status).toBe(200);
  for (const c of open) c.abort();
  await until(() => h.app.opsledger.streams.size === 0 && h.app.opsledger.hub.size === 0);
});

it('ends a stream at once when its token is revoked, its session logs out or its membership is removed', async () => {
  const carol = await h.user('carol', { [tenantA]: 'viewer' });
  const dave = await h.user('dave', { [tenantA]: 'viewer' });
  const erin = await h.user('erin', { [tenantA]: 'viewer' });
  const owner = await h.user('owner', { [tenantA]: 'owner' });
  const session = await h.login(erin);
  const byToken = await stream(tenantA, h.bearer(carol));
  const byMember = await stream(tenantA, h.bearer(dave));
  const bySession = await stream(tenantA, { cookie: session.cookie });
  expect([byToken.status, byMember.status, bySession.status]).toEqual([200, 200, 200]);

  const tokens = await h.app.inject({ url: '/api/v1/me/tokens', headers: h.bearer(carol) });
  const revoke = await h.app.inject({
    method: 'DELETE',
    url: `/api/v1/me/tokens/${tokens.json().data[0].id}`,
    headers: h.bearer(carol),
  });
  expect(revoke.statusCode).toBe(204);
  await until(() => byToken.state.ended, 2000);
  expect(byMember.state.ended || bySession.state.ended).toBe(false);

  const removed = await h.app.inject({
    method: 'DELETE',
    url: `/api/v1/tenants/${tenantA}/members/${dave.id}`,
    headers: await h.session(owner),
  });
  expect(removed.statusCode).toBe(204);
  await until(() => byMember.state.ended, 2000);
  expect(bySession.state.ended).toBe(false);

  const out = await h.app.inject({
    method: 'POST',
    url: '/api/v1/auth/logout',
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
  });
  expect(out.statusCode).toBe(204);
  await until(() => bySession.state.ended, 2000);
  await until(() => h.app.opsledger.streams.size === 0);
});
