import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordWeakness } from '../src/access/service.ts';
import { loadConfig } from '../src/main/config.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { runCli, useCliTarget } from './helpers/api-cli.ts';
import { testTaskType } from './helpers/test-types.ts';

const definitions = [testTaskType({ started: [], aborted: [] })];
const TOKEN = 'metrics-token-0123456789';
let open: ApiHarness;
let tokened: ApiHarness;
let user: TestUser;

beforeAll(async () => {
  open = await startApiHarness({ definitions, worker: false });
  tokened = await startApiHarness({ definitions, worker: false, env: { METRICS: `token:${TOKEN}` } });
  user = await open.user('misc');
});
afterAll(async () => {
  await open?.stop();
  await tokened?.stop();
});

describe('/metrics behind a setting', () => {
  it('with a token: 401 without it or with a wrong one, 200 with it', async () => {
    expect((await tokened.app.inject({ url: '/metrics' })).statusCode).toBe(401);
    const wrong = await tokened.app.inject({ url: '/metrics', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    const right = await tokened.app.inject({
      url: '/metrics',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(right.statusCode).toBe(200);
    expect(right.body).toContain('opsledger_runs_active');
  });

  it('off by default in production, off when asked, refused when malformed', () => {
    const prod = { NODE_ENV: 'production', SECRET_KEY: 'b'.repeat(64), GRAPH_URL: 'https://graph.example' };
    expect(loadConfig(prod).metrics).toEqual({ mode: 'off' });
    expect(loadConfig({ ...prod, METRICS: 'open' }).metrics).toEqual({ mode: 'open' });
    expect(loadConfig({ METRICS: 'off' }).metrics).toEqual({ mode: 'off' });
    expect(() => loadConfig({ METRICS: 'token:short' })).toThrow(/METRICS/);
    expect(() => loadConfig({ METRICS: 'yes' })).toThrow(/METRICS/);
  });

  it('METRICS=off serves no /metrics at all', async () => {
    const off = await startApiHarness({ definitions, worker: false, env: { METRICS: 'off' } });
    try {
      expect((await off.app.inject({ url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await off.stop();
    }
  });
});

describe('configuration of proxies and the simulator', () => {
  it('TRUST_PROXY: true is one hop; a count or a list of proxies; anything else is refused', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.1, 10.1.0.0/16' }).trustProxy).toEqual([
      '10.0.0.1',
      '10.1.0.0/16',
    ]);
    for (const bad of ['sometimes', '11', '10.0.0.1/33', '10.0.0.300']) {
      expect(() => loadConfig({ TRUST_PROXY: bad })).toThrow(/TRUST_PROXY/);
    }
  });

  it('refuses the Graph simulator in production unless ALLOW_SIMULATOR=true', () => {
    const prod = { NODE_ENV: 'production', SECRET_KEY: 'b'.repeat(64) };
    expect(() => loadConfig(prod)).toThrow(/GRAPH_URL/);
    expect(() => loadConfig({ ...prod, GRAPH_URL: 'simulator' })).toThrow(/ALLOW_SIMULATOR/);
    expect(loadConfig({ ...prod, ALLOW_SIMULATOR: 'true' }).graphUrl).toBe('simulator');
    expect(loadConfig({ ...prod, GRAPH_URL: 'https://graph.microsoft.com' }).allowSimulator).toBe(false);
  });
});

describe('cookies, passwords and headers', () => {
  it('the session cookie is Secure outside production too', async () => {
    const res = await open.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: user.password },
    });
    expect(res.statusCode).toBe(200);
    expect(String(res.headers['set-cookie'])).toMatch(/;\s*Secure/i);
  });

  it.each([
    'password',
    '        ',
    ' '.repeat(20),
    'password1234',
    'aaaaaaaaaaaaaaaa',
    'abababababab',
    'short1!',
  ])('refuses the weak password %j', (pw) => {
    expect(passwordWeakness(pw, 'someone@example.test')).not.toBeNull();
  });

  it('accepts a long passphrase', () => {
    expect(passwordWeakness('correct horse battery staple', 'someone@example.test')).toBeNull();
  });

  const target = useCliTarget();
  it('user:create refuses `password` and eight spaces with one line and exit 2', async () => {
    for (const pw of ['password', '        ']) {
      const r = await runCli(
        ['user:create', '--email', 'weak@example.test', '--password-stdin'],
        target.env,
        undefined,
        pw,
      );
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('sends the security headers on every response, also those the router sends before any hook', async () => {
    const reference = await open.app.inject({ url: '/healthz' });
    const securityHeaders = Object.keys(reference.headers).filter(
      (k) =>
        !['content-type', 'content-length', 'date', 'connection', 'x-request-id'].includes(k) &&
        !k.startsWith('x-ratelimit-'),
    );
    expect(securityHeaders.length).toBeGreaterThanOrEqual(10);
    for (const url of [
      `/api/v1/tenants/${'a'.repeat(300)}/operations`, // 414
      '/api/v1/%E0%A4%A', // malformed URL
      '/no-such-route',
    ]) {
      const res = await open.app.inject({ url });
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      for (const h of securityHeaders) expect(res.headers[h], `${h} on ${url}`).toBe(reference.headers[h]);
    }
  });
});
