import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { HttpApp } from '../src/http/app.ts';
import { createHttpServer } from '../src/main/http.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
let h: ApiHarness;
let strict: HttpApp;
let tenant: string;
let user: TestUser;

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType(log)] });
  tenant = await h.ledger.createTenant('Hardened');
  user = await h.user('hardy', { [tenant]: 'operator' });
  // A second app on the same ledger with tight limits, as production would have.
  strict = await createHttpServer(h.ledger, {
    suite: false,
    limits: { loginPerMinute: 3, startsPerMinute: 2, bodyBytes: 1024 },
  });
  await strict.ready();
});
afterAll(async () => {
  await strict?.close();
  await h?.stop();
});

describe('hardening', () => {
  it('sets security headers and a request id on every response, and logs it on every request line', async () => {
    const res = await h.app.inject({ url: '/api/v1/me', headers: { 'x-request-id': 'trace-abc.123' } });
    expect(res.statusCode).toBe(401);
    // The id is ours; the client's is only logged beside it.
    const ours = String(res.headers['x-request-id']);
    expect(ours).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-frame-options']).toBeDefined();
    const lines = h.ledger.logs.filter((l) => l.reqId === ours);
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'request completed',
        method: 'GET',
        path: '/api/v1/me',
        statusCode: 401,
        clientRequestId: 'trace-abc.123',
      }),
    );
    expect(h.ledger.logs.filter((l) => l.reqId === 'trace-abc.123')).toEqual([]);
    // An unsafe incoming id is replaced, not echoed.
    const evil = await h.app.inject({
      url: '/healthz',
      headers: { 'x-request-id': 'a b<script>alert(1)</script>' },
    });
    expect(evil.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const unknownRoute = await h.app.inject({ url: '/nope' });
    expect(unknownRoute.statusCode).toBe(404);
    expect(unknownRoute.headers['x-request-id']).toBeTruthy();
  });

  it('answers malformed JSON, unknown types and schema failures with 400 problem JSON', async () => {
    const url = `/api/v1/tenants/${tenant}/operations`;
    const headers = { ...h.bearer(user), 'content-type': 'application/json' };
    const malformed = await h.app.inject({ method: 'POST', url, headers, payload: '{"type": "test.task",' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.headers['content-type']).toMatch(/^application\/problem\+json/);
    const unknownType = await h.app.inject({
      method: 'POST',
      url,
      headers: h.bearer(user),
      payload: { type: 'no.such', inputs: {} },
    });
    expect(unknownType.statusCode).toBe(400);
    expect(unknownType.json().errors).toEqual([{ path: '/type', message: expect.any(String) }]);
    const badInputs = await h.app.inject({
      method: 'POST',
      url,
      headers: h.bearer(user),
      payload: { type: 'test.task', inputs: { key: 5 } },
    });
    expect(badInputs.statusCode).toBe(400);
    expect(badInputs.json().errors[0].path).toBe('/inputs/key');
    const badCursor = await h.app.inject({ url: `${url}?cursor=abc.def`, headers: h.bearer(user) });
    expect(badCursor.statusCode).toBe(400);
    const badFilter = await h.app.inject({ url: `${url}?status=exploded`, headers: h.bearer(user) });
    expect(badFilter.statusCode).toBe(400);
    expect(badFilter.json()).toMatchObject({ status: 400, title: 'Bad Request', type: 'about:blank' });
  });

  it('refuses a body over the limit with 413', async () => {
    const res = await strict.inject({
      method: 'POST',
      url: '/api/v1/me/tokens',
      headers: h.bearer(user),
      payload: { name: 'y'.repeat(4000) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('rate-limits sign-in and starts with 429 and Retry-After', async () => {
    const codes: number[] = [];
    let last = null as Awaited<ReturnType<HttpApp['inject']>> | null;
    for (let i = 0; i < 5; i++) {
      last = await strict.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: 'nope-nope' },
      });
      codes.push(last.statusCode);
    }
    expect(codes).toEqual([401, 401, 401, 429, 429]);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(last!.headers['content-type']).toMatch(/^application\/problem\+json/);
    const starts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await strict.inject({
        method: 'POST',
        url: `/api/v1/tenants/${tenant}/operations`,
        headers: h.bearer(user),
        payload: { type: 'test.task', inputs: { key: `limited-${i}` } },
      });
      starts.push(res.statusCode);
      if (res.statusCode === 429) expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect(starts).toEqual([202, 202, 429, 429]);
  });

  it('refuses an email after repeated failed sign-ins from one address, saying nothing of whether it exists', async () => {
    const app = await createHttpServer(h.ledger, {
      suite: false,
      limits: { loginPerMinute: 1000, loginFailuresPerEmail: 2 },
    });
    onTestFinished(() => app.close());
    const login = (email: string, password: string, ip: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email, password },
        remoteAddress: ip,
      });
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      known.push((await login(user.email, 'wrong-password', '10.0.0.1')).statusCode);
      unknown.push((await login('nobody-here@example.test', 'wrong-password', '10.0.0.1')).statusCode);
    }
    expect(known).toEqual([401, 401, 429]);
    expect(unknown).toEqual(known);
    // From that address even the right password waits out the window…
    const right = await login(user.email.toUpperCase(), user.password, '10.0.0.1');
    expect(right.statusCode).toBe(429);
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
    // …but guesses from elsewhere never lock the owner out: their own address still signs in.
    expect((await login(user.email, user.password, '10.0.0.4')).statusCode).toBe(200);
    const other = await h.user('other-login');
    expect((await login(other.email, other.password, '10.0.0.1')).statusCode).toBe(200);
  });

  it('hides internal errors behind a bare 500', async () => {
    const app = await createHttpServer(h.ledger, { suite: false });
    app.get('/boom', { config: { auth: 'public' } }, async () => {
      throw new Error('password=hunter2 at postgres://u:p@db/x');
    });
    const res = await app.inject({ url: '/boom' });
    await app.close();
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('hunter2');
    expect(res.body).not.toContain('postgres');
    expect(res.json()).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'an internal error occurred',
    });
    expect(h.ledger.logText()).not.toContain('hunter2');
  });

  it('serves health, readiness, stats and Prometheus metrics', async () => {
    expect((await h.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await h.app.inject({ url: '/readyz' })).json()).toMatchObject({ status: 'ready' });
    const ok = await h.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/operations`,
      headers: h.bearer(user),
      payload: { type: 'test.task', inputs: { key: 'stats-ok', sleepMs: 50 } },
    });
    const bad = await h.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/operations`,
      headers: h.bearer(user),
      payload: { type: 'test.task', inputs: { key: 'stats-bad', failTimes: -1 } },
    });
    await h.ledger.waitForRun(tenant, ok.json().run.id, (r) => r.status === 'completed');
    await h.ledger.waitForRun(tenant, bad.json().run.id, (r) => r.status === 'completed');
    const stats = await h.app.inject({
      url: `/api/v1/tenants/${tenant}/operations/stats?window=7d`,
      headers: h.bearer(user),
    });
    expect(stats.statusCode).toBe(200);
    const row = stats.json().data.find((d: { type: string }) => d.type === 'test.task');
    expect(row.counts.succeeded).toBeGreaterThanOrEqual(1);
    expect(row.counts.failed).toBeGreaterThanOrEqual(1);
    expect(row.p50DurationMs).toBeGreaterThanOrEqual(0);
    expect(row.p95DurationMs).toBeGreaterThanOrEqual(row.p50DurationMs);
    expect(row.typeLabel).toBe('Test task');
    const badWindow = await h.app.inject({
      url: `/api/v1/tenants/${tenant}/operations/stats?window=1y`,
      headers: h.bearer(user),
    });
    expect(badWindow.statusCode).toBe(400);
    const metrics = await h.app.inject({ url: '/metrics' });
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    const text = metrics.body;
    expect(text).toMatch(/opsledger_runs_started_total\{type="test.task"\} \d+/);
    expect(text).toMatch(/opsledger_runs_completed_total\{type="test.task",outcome="failed"\} [1-9]/);
    expect(text).toMatch(
      /opsledger_run_duration_seconds_bucket\{le="[^"]+",type="test.task",outcome="succeeded"\}/,
    );
    expect(text).toMatch(/opsledger_queue_depth \d+/);
    expect(text).toMatch(/opsledger_runs_active\{status="queued"\} \d+/);
    expect(text).toMatch(
      /opsledger_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/tenants\/:tenantId\/operations",status_code="202"\} \d+/,
    );
    // Metrics never carry tenant ids.
    expect(text).not.toContain(tenant);
  });
});
