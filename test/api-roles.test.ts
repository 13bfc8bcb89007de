import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
let h: ApiHarness;
let tenant: string;
let owner: TestUser;
let operator: TestUser;
let viewer: TestUser;

const ops = () => `/api/v1/tenants/${tenant}/operations`;

async function start(user: TestUser, inputs: Record<string, unknown>) {
  return h.app.inject({
    method: 'POST',
    url: ops(),
    headers: h.bearer(user),
    payload: { type: 'test.task', inputs },
  });
}

async function createSchedule(user: TestUser, name: string): Promise<string> {
  const res = await h.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenant}/schedules`,
    headers: h.bearer(user),
    payload: { name, type: 'test.task', inputs: { key: name }, cron: '0 2 * * *' },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

async function failedRun(key: string): Promise<string> {
  const res = await start(operator, { key, failTimes: -1 });
  expect(res.statusCode).toBe(202);
  const id = res.json().run.id;
  await h.ledger.waitForRun(tenant, id, (r) => r.status === 'completed');
  return id;
}

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType(log, { maxAttempts: 1 })], withRestore: true });
  tenant = await h.ledger.createTenant('Matrix');
  owner = await h.user('owner', { [tenant]: 'owner' });
  operator = await h.user('operator', { [tenant]: 'operator' });
  viewer = await h.user('viewer', { [tenant]: 'viewer' });
});
afterAll(async () => {
  await h?.stop();
});

describe('role matrix', () => {
  it('a viewer reads but gets 403 on start, cancel, retry, schedules and member management', async () => {
    const failed = await failedRun('viewer-failed');
    const schedule = await createSchedule(owner, 'owner schedule');
    const read = [
      `/api/v1/tenants/${tenant}/schedules`,
      `/api/v1/tenants/${tenant}/schedules/${schedule}`,
      ops(),
      `${ops()}/${failed}`,
      `${ops()}/stats?window=30d`,
      '/api/v1/tenants',
      '/api/v1/operation-types',
      `/api/v1/tenants/${tenant}/inventory`,
      `/api/v1/tenants/${tenant}/inventory/items?family=deviceConfigurations`,
      `/api/v1/tenants/${tenant}/backup-sets`,
      `/api/v1/tenants/${tenant}/drift/baselines`,
    ];
    for (const url of read) {
      expect((await h.app.inject({ url, headers: h.bearer(viewer) })).statusCode, url).toBe(200);
    }
    const denied = [
      { method: 'POST', url: ops(), payload: { type: 'test.task', inputs: { key: 'v' } } },
      { method: 'POST', url: `${ops()}/${failed}/cancel` },
      { method: 'POST', url: `${ops()}/${failed}/retry` },
      { method: 'POST', url: `/api/v1/tenants/${tenant}/restore-runs`, payload: { backupId: failed } },
      { method: 'GET', url: `/api/v1/tenants/${tenant}/members` },
      {
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/members`,
        payload: { email: viewer.email, role: 'owner' },
      },
      { method: 'PATCH', url: `/api/v1/tenants/${tenant}/members/${viewer.id}`, payload: { role: 'owner' } },
      { method: 'DELETE', url: `/api/v1/tenants/${tenant}/members/${owner.id}` },
      {
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/schedules`,
        payload: { name: 'viewer', type: 'test.task', inputs: { key: 'v' }, cron: '0 2 * * *' },
      },
      { method: 'POST', url: `/api/v1/tenants/${tenant}/schedules/${schedule}/pause` },
      { method: 'POST', url: `/api/v1/tenants/${tenant}/schedules/${schedule}/resume` },
      { method: 'DELETE', url: `/api/v1/tenants/${tenant}/schedules/${schedule}` },
    ] as const;
    for (const req of denied) {
      const res = await h.app.inject({ ...req, headers: h.bearer(viewer) });
      expect(res.statusCode, `${req.method} ${req.url}`).toBe(403);
      expect(res.json()).toMatchObject({ status: 403, title: 'Forbidden' });
    }
    // The denied retry started nothing.
    const list = await h.app.inject({ url: ops(), headers: h.bearer(viewer) });
    expect(list.json().data.filter((r: { retryOf: string | null }) => r.retryOf === failed)).toEqual([]);
  });

  it('an operator starts, cancels and retries, but may not manage members', async () => {
    const started = await start(operator, { key: 'op-wait', waitForAbort: true });
    expect(started.statusCode).toBe(202);
    expect(started.json()).toMatchObject({
      created: true,
      run: { status: 'queued', initiator: { kind: 'api', userId: operator.id } },
    });
    const id = started.json().run.id;
    const cancel = await h.app.inject({
      method: 'POST',
      url: `${ops()}/${id}/cancel`,
      headers: h.bearer(operator),
    });
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json().run.id).toBe(id);
    await h.ledger.waitForRun(tenant, id, (r) => r.status === 'completed');
    const again = await h.app.inject({
      method: 'POST',
      url: `${ops()}/${id}/cancel`,
      headers: h.bearer(operator),
    });
    expect(again.statusCode).toBe(409);
    const failed = await failedRun('op-failed');
    const retry = await h.app.inject({
      method: 'POST',
      url: `${ops()}/${failed}/retry`,
      headers: h.bearer(operator),
    });
    expect(retry.statusCode).toBe(202);
    expect(retry.json().run).toMatchObject({ retryOf: failed, status: 'queued' });
    const active = await start(operator, { key: 'op-active', waitForAbort: true });
    const retryActive = await h.app.inject({
      method: 'POST',
      url: `${ops()}/${active.json().run.id}/retry`,
      headers: h.bearer(operator),
    });
    expect(retryActive.statusCode).toBe(409);
    await h.app.inject({
      method: 'POST',
      url: `${ops()}/${active.json().run.id}/cancel`,
      headers: h.bearer(operator),
    });
    const members = await h.app.inject({
      url: `/api/v1/tenants/${tenant}/members`,
      headers: h.bearer(operator),
    });
    expect(members.statusCode).toBe(403);
    // An operator creates, pauses, resumes and deletes schedules.
    const schedule = await createSchedule(operator, 'operator schedule');
    for (const [method, suffix, status] of [
      ['POST', '/pause', 200],
      ['POST', '/resume', 200],
      ['DELETE', '', 204],
    ] as const) {
      const res = await h.app.inject({
        method,
        url: `/api/v1/tenants/${tenant}/schedules/${schedule}${suffix}`,
        headers: h.bearer(operator),
      });
      expect(res.statusCode, `${method} ${suffix}`).toBe(status);
    }
    // Past the role gate: an operator may restore. This harness registers no restore type, so the
    // start itself is refused (as unknown work), not the caller.
    const restore = await h.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/restore-runs`,
      headers: h.bearer(operator),
      payload: { backupId: failed },
    });
    expect(restore.statusCode).toBe(400);
    const restores = await h.app.inject({
      url: `/api/v1/tenants/${tenant}/restore-runs`,
      headers: h.bearer(viewer),
    });
    expect(restores.statusCode).toBe(200);
  });

  it('an owner manages members; the last owner can be neither demoted nor removed', async () => {
    const url = `/api/v1/tenants/${tenant}/members`;
    const dave = await h.user('dave');
    // Members are managed signed in: a token is refused that (see the token-scope test).
    const ownerSession = await h.session(owner);
    const add = await h.app.inject({
      method: 'POST',
      url,
      headers: ownerSession,
      payload: { email: dave.email, role: 'viewer' },
    });
    expect(add.statusCode).toBe(202);
    expect(add.json()).toMatchObject({ tenantId: tenant, email: dave.email.toLowerCase(), role: 'viewer' });
    // Invited is not joined: dave sees the invitation and accepts it himself.
    expect((await start(dave, { key: 'dave-early' })).statusCode).toBe(404);
    const waiting = await h.app.inject({ url: '/api/v1/me/invitations', headers: h.bearer(dave) });
    expect(waiting.json().data).toMatchObject([{ tenantId: tenant, role: 'viewer' }]);
    const accept = await h.app.inject({
      method: 'POST',
      url: `/api/v1/me/invitations/${tenant}/accept`,
      headers: h.bearer(dave),
    });
    expect(accept.statusCode).toBe(200);
    expect(accept.json()).toMatchObject({ userId: dave.id, role: 'viewer' });
    const again = await h.app.inject({
      method: 'POST',
      url: `/api/v1/me/invitations/${tenant}/accept`,
      headers: h.bearer(dave),
    });
    expect(again.statusCode).toBe(404);
    const promote = await h.app.inject({
      method: 'PATCH',
      url: `${url}/${dave.id}`,
      headers: ownerSession,
      payload: { role: 'operator' },
    });
    expect(promote.json()).toMatchObject({ role: 'operator' });
    expect((await start(dave, { key: 'dave' })).statusCode).toBe(202);
    const daveSession = await h.session(dave);
    const demoteLast = await h.app.inject({
      method: 'PATCH',
      url: `${url}/${owner.id}`,
      headers: ownerSession,
      payload: { role: 'viewer' },
    });
    expect(demoteLast.statusCode).toBe(409);
    const removeLast = await h.app.inject({
      method: 'DELETE',
      url: `${url}/${owner.id}`,
      headers: ownerSession,
    });
    expect(removeLast.statusCode).toBe(409);
    // With a second owner, one of them may go.
    await h.app.inject({
      method: 'PATCH',
      url: `${url}/${dave.id}`,
      headers: ownerSession,
      payload: { role: 'owner' },
    });
    // Two owners demoting each other at once: exactly one succeeds, a tenant always keeps an owner.
    const [a, b] = await Promise.all([
      h.app.inject({
        method: 'PATCH',
        url: `${url}/${dave.id}`,
        headers: ownerSession,
        payload: { role: 'viewer' },
      }),
      h.app.inject({
        method: 'PATCH',
        url: `${url}/${owner.id}`,
        headers: daveSession,
        payload: { role: 'viewer' },
      }),
    ]);
    // The loser is refused either by the owner lock (409) or, if the winner committed first, by
    // the role gate (403, it is no longer an owner); never both succeed.
    const codes = [a.statusCode, b.statusCode];
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    expect(codes.filter((c) => c !== 200)[0]).toBeOneOf([403, 409]);
    const list = await h.app.inject({ url, headers: a.statusCode === 200 ? ownerSession : daveSession });
    expect(list.json().data.filter((m: { role: string }) => m.role === 'owner')).toHaveLength(1);
    const removed = await h.app.inject({
      method: 'DELETE',
      url: `${url}/${a.statusCode === 200 ? dave.id : owner.id}`,
      headers: a.statusCode === 200 ? ownerSession : daveSession,
    });
    expect(removed.statusCode).toBe(204);
  });
});

describe('sessions, CSRF and tokens', () => {
  it('a session cookie reads; its writes need the CSRF token; logout ends it', async () => {
    const s = await h.login(operator);
    const me = await h.app.inject({ url: '/api/v1/me', headers: { cookie: s.cookie } });
    expect(me.json()).toMatchObject({ user: { id: operator.id }, csrfToken: s.csrf });
    const payload = { type: 'test.task', inputs: { key: 'cookie' } };
    const noCsrf = await h.app.inject({ method: 'POST', url: ops(), headers: { cookie: s.cookie }, payload });
    expect(noCsrf.statusCode).toBe(403);
    const wrong = await h.app.inject({
      method: 'POST',
      url: ops(),
      headers: { cookie: s.cookie, 'x-csrf-token': `${s.csrf}x` },
      payload,
    });
    expect(wrong.statusCode).toBe(403);
    const ok = await h.app.inject({
      method: 'POST',
      url: ops(),
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
      payload,
    });
    expect(ok.statusCode).toBe(202);
    expect(ok.json().run.initiator).toMatchObject({ kind: 'user', userId: operator.id, name: 'operator' });
    const out = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
    });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/opsledger_session=;/);
    expect((await h.app.inject({ url: '/api/v1/me', headers: { cookie: s.cookie } })).statusCode).toBe(401);
  });

  it('the session cookie is httpOnly and SameSite; the secret is stored only as a hash', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: viewer.email, password: viewer.password },
    });
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const secret = cookie
      .split(';')[0]!
      .split('=')[1]!
      .slice('ols_'.length + 33);
    expect(secret).toHaveLength(43);
    const rows = await h.ledger.database.db.selectFrom('sessions').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(h.ledger.logText()).not.toContain(secret);
  });

  it('tokens: the secret is shown once, listed never, and a revoked token stops working', async () => {
    const created = await h.app.inject({
      method: 'POST',
      url: '/api/v1/me/tokens',
      headers: await h.session(viewer),
      payload: { name: 'ci', password: viewer.password },
    });
    expect(created.statusCode).toBe(201);
    const { token, secret } = created.json();
    const use = await h.app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${secret}` } });
    expect(use.json().user.id).toBe(viewer.id);
    const list = await h.app.inject({ url: '/api/v1/me/tokens', headers: h.bearer(viewer) });
    expect(list.body).not.toContain(secret.slice('olt_'.length + 33));
    expect(list.json().data.map((t: { id: string }) => t.id)).toContain(token.id);
    const tampered = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect(
      (await h.app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${tampered}` } }))
        .statusCode,
    ).toBe(401);
    const rows = await h.ledger.database.db.selectFrom('api_tokens').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(secret.slice('olt_'.length + 33));
    // Another user cannot revoke it: 404 as for an unknown token.
    const foreign = await h.app.inject({
      method: 'DELETE',
      url: `/api/v1/me/tokens/${token.id}`,
      headers: h.bearer(owner),
    });
    expect(foreign.statusCode).toBe(404);
    const revoke = await h.app.inject({
      method: 'DELETE',
      url: `/api/v1/me/tokens/${token.id}`,
      headers: h.bearer(viewer),
    });
    expect(revoke.statusCode).toBe(204);
    expect(
      (await h.app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${secret}` } })).statusCode,
    ).toBe(401);
    expect(h.ledger.logText()).not.toContain(secret.slice('olt_'.length + 33));
  });

  it('login answers an unknown email exactly like a wrong password', async () => {
    const unknown = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'ghost@example.test', password: 'whatever-123' },
    });
    const wrong = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: viewer.email, password: 'whatever-123' },
    });
    expect(unknown.statusCode).toBe(401);
    expect(wrong.statusCode).toBe(401);
    expect(unknown.body).toBe(wrong.body);
    expect(unknown.headers['set-cookie']).toBeUndefined();
    // Neither the passwords tried nor the real ones reach a log line.
    for (const pw of ['whatever-123', viewer.password, operator.password])
      expect(h.ledger.logText()).not.toContain(pw);
  });
});

describe('concurrent identical starts', () => {
  it('100 concurrent identical POSTs: one 202 created:true, the rest 200 created:false with the same run', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, () => start(operator, { key: 'stampede', waitForAbort: true })),
    );
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c >= 500)).toEqual([]);
    expect(codes.filter((c) => c === 202)).toHaveLength(1);
    expect(codes.filter((c) => c === 200)).toHaveLength(99);
    const bodies = results.map((r) => r.json());
    expect(bodies.filter((b) => b.created === true)).toHaveLength(1);
    expect(new Set(bodies.map((b) => b.run.id)).size).toBe(1);
    await h.app.inject({
      method: 'POST',
      url: `${ops()}/${bodies[0].run.id}/cancel`,
      headers: h.bearer(operator),
    });
  });
});
