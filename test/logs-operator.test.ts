import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../src/main/config.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { CORPUS } from './helpers/secret-corpus.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

/**
 * Logs an operator can use, read from the server's own log output: a failed attempt at warn with
 * what identifies it, request lines that say who asked, failed sign-ins at warn without the email,
 * and a start-up summary of the configuration without its secrets.
 */

const log: HandlerLog = { started: [], aborted: [] };
let h: ApiHarness;
let tenant: string;
let user: TestUser;
beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType(log)] });
  tenant = await h.ledger.createTenant('Logged');
  user = await h.user('logged', { [tenant]: 'operator' });
});
afterAll(async () => {
  await h?.stop();
});

const lines = (msg: string) => h.ledger.logs.filter((l) => l.msg === msg);

describe('operator logs', () => {
  it('logs every failed attempt at warn with run, tenant, type, attempt, code and the redacted message', async () => {
    const [message, secrets] = CORPUS[3]!; // a password stated in prose
    const res = await h.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/operations`,
      headers: h.bearer(user),
      payload: {
        type: 'test.task',
        inputs: { key: 'always-fails', failTimes: -1, errorMessage: `upstream refused: ${message}` },
      },
    });
    expect(res.statusCode).toBe(202);
    const runId = res.json().run.id;
    const run = await h.ledger.waitForRun(tenant, runId, (r) => r.status === 'completed');
    // One line per attempt, as every attempt has; a failed one at warn, with what identifies it.
    const failed = lines('operation attempt finished').filter((l) => l.runId === runId);
    expect(failed).toHaveLength(run.attempts);
    for (const [i, line] of failed.entries()) {
      expect(line).toMatchObject({
        level: 40,
        runId,
        tenantId: tenant,
        type: 'test.task',
        attempt: i + 1,
        code: 'handler_error',
        message: expect.stringContaining('upstream refused'),
      });
    }
    for (const s of secrets) expect(h.ledger.logText()).not.toContain(s);
  });

  it('request lines carry method, route, status, duration, client address, user and tenant', async () => {
    await h.app.inject({
      url: `/api/v1/tenants/${tenant}/operations?limit=1`,
      headers: h.bearer(user),
      remoteAddress: '203.0.113.7',
    });
    const line = lines('request completed').find(
      (l) => l.route === '/api/v1/tenants/:tenantId/operations' && l.method === 'GET',
    );
    expect(line).toMatchObject({
      method: 'GET',
      statusCode: 200,
      durationMs: expect.any(Number),
      clientIp: '203.0.113.7',
      userId: user.id,
      tenantId: tenant,
    });
    // A tenant the caller may not see is not written as the request's tenant.
    const foreign = '00000000-0000-4000-8000-00000000f00d';
    await h.app.inject({ url: `/api/v1/tenants/${foreign}/operations`, headers: h.bearer(user) });
    const refused = lines('request completed').find((l) => String(l.path).includes(foreign));
    expect(refused).toMatchObject({ statusCode: 404, userId: user.id, tenantId: null });
  });

  it('logs failed sign-ins at warn with the email hashed, never in clear', async () => {
    const before = lines('sign-in failed').length;
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email.toUpperCase(), password: 'not the password at all' },
      remoteAddress: '198.51.100.9',
    });
    expect(res.statusCode).toBe(401);
    const failed = lines('sign-in failed').slice(before);
    expect(failed).toHaveLength(1);
    const hash = createHash('sha256').update(user.email.toLowerCase()).digest('hex').slice(0, 16);
    expect(failed[0]).toMatchObject({
      level: 40,
      emailHash: hash,
      clientIp: '198.51.100.9',
      reason: 'bad_credentials',
    });
    expect(h.ledger.logText().toLowerCase()).not.toContain(user.email.toLowerCase());
    expect(h.ledger.logText()).not.toContain('not the password at all');
  });

  it('summarises the configuration for the start-up line without a secret', () => {
    const summary = describeConfig(
      loadConfig({
        DATABASE_URL: 'postgres://app:db-password-1@db.internal:5432/opsledger',
        SECRET_KEY: 'b'.repeat(64),
        METRICS: 'token:metrics-token-0123456789',
        TRUST_PROXY: '1',
      }),
    );
    expect(summary).toMatchObject({
      database: 'postgres://db.internal:5432/opsledger',
      secretKey: 'set',
      metrics: 'token',
      trustProxy: 1,
    });
    const text = JSON.stringify(summary);
    for (const secret of ['db-password-1', 'app:', 'b'.repeat(64), 'metrics-token-0123456789'])
      expect(text).not.toContain(secret);
  });
});
