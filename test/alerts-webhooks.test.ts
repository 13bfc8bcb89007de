// Alerts end to end: owners configure signed webhook targets through the API; a local receiver
// (node:http on 127.0.0.1, allowed by WEBHOOK_ALLOW_PRIVATE=true) gets the deliveries the real
// worker sends through the real queue. Both databases; the two-process fleet check needs
// PostgreSQL (on the embedded database two ledgers share it in this process).
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantRepository } from '../src/access/tenants.ts';
import { verifySignature } from '../src/alerts/signature.ts';
import { checkTargetAddress, isPrivateAddress, parseTargetUrl } from '../src/alerts/url-guard.ts';
import { loadConfig } from '../src/main/config.ts';
import { createOpsledger, type Opsledger } from '../src/main/opsledger.ts';
import { createLogger } from '../src/shared/logger.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { runCli } from './helpers/api-cli.ts';
import { createTestDatabase } from './helpers/db.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import { until } from './helpers/sse.ts';
import { findInDatabase } from './helpers/suite-ledger.ts';
import { testTaskType } from './helpers/test-types.ts';

type Received = { headers: http.IncomingHttpHeaders; body: string; at: number };

/** A webhook receiver: records every request; answers from a script of statuses, then 200. */
async function receiver() {
  const received: Received[] = [];
  const script: number[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body, at: Date.now() });
      const status = script.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : `nope, try later (password=hunter2)`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    received,
    script,
    url: (p = '/hooks/opsledger') => `http://127.0.0.1:${port}${p}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const FAILING = { failTimes: -1, errorMessage: 'Graph said no: client_secret=Sup3rS3cret!value' };

describe('webhook targets and deliveries', () => {
  let h: ApiHarness;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let tenant: string;
  let otherTenant: string;
  const u: Record<string, TestUser> = {};
  let targetId = '';
  let secret = '';

  beforeAll(async () => {
    rx = await receiver();
    h = await startApiHarness({
      definitions: [testTaskType({ started: [], aborted: [] }, { maxAttempts: 1 })],
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SECONDS: '1' },
    });
    tenant = await h.ledger.createTenant('Contoso');
    otherTenant = await h.ledger.createTenant('Fabrikam');
    u.owner = await h.user('owner', { [tenant]: 'owner' });
    u.operator = await h.user('operator', { [tenant]: 'operator' });
    u.viewer = await h.user('viewer', { [tenant]: 'viewer' });
    u.outsider = await h.user('outsider', { [otherTenant]: 'owner' });
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    await rx?.close();
  });

  const api = (who: string, method: string, url: string, payload?: unknown) =>
    h.app.inject({
      method: method as 'GET',
      url: `/api/v1/tenants/${tenant}/alert-targets${url}`,
      headers: h.bearer(u[who]!),
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const deliveries = async () => (await api('owner', 'GET', `/${targetId}/deliveries`)).json().data;

  it('an owner adds a target; the secret is shown once and stored only encrypted; the URL is masked', async () => {
    const res = await api('owner', 'POST', '', {
      name: 'ops channel',
      url: rx.url('/hooks/T0KEN-IN-PATH-4242'),
      outcomes: ['failed', 'partially_succeeded'],
    });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    secret = body.secret;
    targetId = body.target.id;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(body.target).toMatchObject({
      name: 'ops channel',
      kind: 'webhook',
      types: [],
      enabled: true,
      lastDelivery: null,
    });
    expect(body.target.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/hooks\/…$/);
    const list = await api('owner', 'GET', '');
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(secret);
    expect(list.body).not.toContain('T0KEN-IN-PATH-4242');
    expect(await findInDatabase(h.ledger, [secret, 'T0KEN-IN-PATH-4242'])).toEqual([]);
  });

  it('the role matrix: only owners manage targets; another tenant is a 404', async () => {
    for (const who of ['operator', 'viewer']) {
      expect((await api(who, 'GET', '')).statusCode).toBe(403);
      expect((await api(who, 'POST', '', { name: 'x', url: rx.url() })).statusCode).toBe(403);
      expect((await api(who, 'POST', `/${targetId}/test`)).statusCode).toBe(403);
      expect((await api(who, 'DELETE', `/${targetId}`)).statusCode).toBe(403);
    }
    expect((await api('outsider', 'GET', '')).statusCode).toBe(404);
    const foreign = await h.app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${otherTenant}/alert-targets/${targetId}/deliveries`,
      headers: h.bearer(u.outsider!),
    });
    expect(foreign.statusCode).toBe(404);
    const unknown = await api('owner', 'GET', '/0190a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b/deliveries');
    expect(unknown.statusCode).toBe(404);
    expect(foreign.json().detail).toBe(unknown.json().detail);
    expect(
      (await h.app.inject({ method: 'GET', url: `/api/v1/tenants/${tenant}/alert-targets` })).statusCode,
    ).toBe(401);
  });

  it('refuses bad targets with a problem and keeps nothing of them', async () => {
    const before = (await api('owner', 'GET', '')).json().data.length;
    for (const body of [
      { name: 'ftp', url: 'ftp://example.com/x' },
      { name: 'creds', url: 'https://user:pw@example.com/x' },
      { name: 'junk', url: 'not a url' },
      { name: 'outcome', url: 'https://example.com/x', outcomes: ['succeeded'] },
      { name: 'type', url: 'https://example.com/x', types: ['no.such'] },
      { name: '', url: 'https://example.com/x' },
      { name: 'minutes', url: 'https://example.com/x', longerThanMinutes: 0 },
    ]) {
      const res = await api('owner', 'POST', '', body);
      expect({ body, status: res.statusCode }).toEqual({ body, status: 400 });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect((await api('owner', 'GET', '')).json().data.length).toBe(before);
  });

  it('a failed run produces exactly one signed delivery, with no secret in it', async () => {
    const start = rx.received.length;
    const { run } = await h.ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'fails-once', ...FAILING },
      initiator: { kind: 'system' },
    });
    await until(() => rx.received.length > start, 30_000, 'the delivery');
    // Time for a duplicate to show up, were there one.
    await new Promise((r) => setTimeout(r, 2500));
    const got = rx.received.slice(start);
    expect(got).toHaveLength(1);
    const [req] = got;
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['opsledger-event']).toBe('run.failed');
    expect(verifySignature(secret, req!.headers['opsledger-signature'] as string, req!.body)).toBe(true);
    expect(verifySignature(secret, req!.headers['opsledger-signature'] as string, `${req!.body} `)).toBe(
      false,
    );
    expect(verifySignature('whsec_wrong', req!.headers['opsledger-signature'] as string, req!.body)).toBe(
      false,
    );
    const payload = JSON.parse(req!.body);
    expect(payload).toMatchObject({
      event: 'run.failed',
      tenantId: tenant,
      run: { id: run.id, type: 'test.task', outcome: 'failed', attempts: 1 },
    });
    expect(payload.id).toBe(req!.headers['opsledger-delivery']);
    expect(req!.body).not.toContain('Sup3rS3cret!value');
    expect(req!.body).not.toContain(secret);
    const log = await deliveries();
    const mine = log.filter((d: { runId: string }) => d.runId === run.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      status: 'delivered',
      event: 'run.failed',
      attempts: [{ attempt: 1, statusCode: 200 }],
    });
    // A succeeded run alerts no one.
    const before = rx.received.length;
    await h.ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'fine' },
      initiator: { kind: 'system' },
    });
    await new Promise((r) => setTimeout(r, 2500));
    expect(rx.received.length).toBe(before);
  });

  it('a receiver that answers 500 twice then 200 gets three tries; the delivery log shows them ("send test")', async () => {
    const start = rx.received.length;
    rx.script.push(500, 500);
    const res = await api('owner', 'POST', `/${targetId}/test`);
    expect(res.statusCode).toBe(202);
    const { deliveryId } = res.json();
    await until(
      async () =>
        (await deliveries()).find((d: { id: string }) => d.id === deliveryId)?.status === 'delivered',
      60_000,
      'the third try',
    );
    const got = rx.received.slice(start);
    expect(got).toHaveLength(3);
    for (const r of got) {
      expect(r.headers['opsledger-delivery']).toBe(deliveryId);
      expect(r.headers['opsledger-event']).toBe('test');
      expect(verifySignature(secret, r.headers['opsledger-signature'] as string, r.body)).toBe(true);
    }
    // The retries waited (1 s, then 2 s with backoff; a loaded machine only adds to it).
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(900);
    const d = (await deliveries()).find((x: { id: string }) => x.id === deliveryId);
    expect(d.attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 500, 200]);
    expect(d.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2, 3]);
    expect(d.attempts[0].error).toBe('the receiver answered HTTP 500');
    // The receiver's answer is kept, bounded and redacted.
    expect(d.attempts[0].response).toContain('nope, try later');
    expect(d.attempts[0].response).not.toContain('hunter2');
    // The list tells how the target's latest delivery went.
    const listed = (await api('owner', 'GET', '')).json().data.find((t: { id: string }) => t.id === targetId);
    expect(listed.lastDelivery).toMatchObject({ event: 'test', status: 'delivered', statusCode: 200 });
    expect(listed.lastDelivery.completedAt).not.toBeNull();
  }, 90_000);

  it('`opsledger alerts list` and `alerts test` work for an owner; an operator gets a one-line error', async () => {
    const url = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const owner = { OPSLEDGER_URL: url, OPSLEDGER_TOKEN: u.owner!.token, OPSLEDGER_TENANT: tenant };
    const listed = await runCli(['alerts', 'list'], owner);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(targetId);
    expect(listed.stdout).not.toContain('T0KEN-IN-PATH-4242');
    // How the latest delivery went (the test delivery the test before this one made).
    expect(listed.stdout).toMatch(/LAST DELIVERY/);
    expect(listed.stdout).toContain('delivered (HTTP 200)');
    const start = rx.received.length;
    const tested = await runCli(['alerts', 'test', targetId], owner);
    expect(tested.code, tested.stderr).toBe(0);
    expect(tested.stdout).toMatch(/^queued test delivery [0-9a-f-]{36}\n$/);
    await until(() => rx.received.length > start, 30_000, 'the test delivery');
    const refused = await runCli(['alerts', 'list'], { ...owner, OPSLEDGER_TOKEN: u.operator!.token });
    // Refused (403): the command line's auth exit code.
    expect(refused.code).toBe(4);
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
  }, 90_000);

  it('a disabled target, or one whose rules do not match, is sent nothing; a removed one loses its log', async () => {
    const patched = await api('owner', 'PATCH', `/${targetId}`, { enabled: false });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().enabled).toBe(false);
    const before = rx.received.length;
    await h.ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'off', ...FAILING },
      initiator: { kind: 'system' },
    });
    await new Promise((r) => setTimeout(r, 3000));
    expect(rx.received.length).toBe(before);
    expect((await api('owner', 'DELETE', `/${targetId}`)).statusCode).toBe(204);
    expect((await api('owner', 'GET', `/${targetId}/deliveries`)).statusCode).toBe(404);
  });
});

describe('where a webhook may point', () => {
  it('refuses loopback, private, link-local and mapped addresses unless allowed', async () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
    ])
      expect({ a, private: isPrivateAddress(a) }).toEqual({ a, private: true });
    for (const a of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'])
      expect({ a, private: isPrivateAddress(a) }).toEqual({ a, private: false });
    await expect(checkTargetAddress(parseTargetUrl('http://127.0.0.1:9/x'), false)).rejects.toThrow(
      /private/,
    );
    await expect(checkTargetAddress(parseTargetUrl('http://localhost:9/x'), false)).rejects.toThrow(
      /this machine/,
    );
    await expect(checkTargetAddress(parseTargetUrl('http://[::1]:9/x'), false)).rejects.toThrow(/private/);
    await expect(checkTargetAddress(parseTargetUrl('http://127.0.0.1:9/x'), true)).resolves.toBeUndefined();
  });
});

const POSTGRES = !!process.env.DATABASE_URL;
const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/alert-worker.ts');
console.log(
  POSTGRES
    ? 'alerts fleet: two worker processes on PostgreSQL'
    : 'alerts fleet: two ledgers sharing the embedded database in this process (two processes need PostgreSQL)',
);

describe('a fleet of two workers', () => {
  it('delivers each alert once', async () => {
    const rx = await receiver();
    const testDb = await createTestDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-alerts-'));
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      SECRET_KEY: TEST_SECRET_KEY,
      LOG_LEVEL: 'warn',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_SECONDS: '1',
    };
    if (testDb.url) env.DATABASE_URL = testDb.url;
    const definitions = [testTaskType({ started: [], aborted: [] }, { maxAttempts: 1 })];
    const shared = { ...testDb.database, close: async () => {} };
    const stops: (() => Promise<void>)[] = [];
    try {
      const control: Opsledger = await createOpsledger({
        config: loadConfig(env),
        definitions,
        logger: createLogger({ level: 'warn', destination: process.stderr as never }),
        worker: false,
        database: shared,
      });
      stops.push(() => control.close());
      for (const who of ['worker-1', 'worker-2']) {
        if (POSTGRES) {
          const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
            env: { ...process.env, ...env },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          await new Promise<void>((resolve, reject) => {
            child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
            child.once('exit', (code) => reject(new Error(`${who} exited with ${code}`)));
          });
          stops.push(
            () =>
              new Promise<void>((resolve) => {
                if (child.exitCode !== null) return resolve();
                child.once('exit', () => resolve());
                child.kill('SIGTERM');
              }),
          );
        } else {
          const w = await createOpsledger({
            config: loadConfig(env),
            definitions,
            logger: createLogger({ level: 'warn', destination: process.stderr as never }),
            worker: true,
            database: shared,
          });
          stops.push(() => w.close());
        }
      }
      const tenant = (
        await control.database.systemTx((trx) => tenantRepository.create(trx, { name: 'Fleet' }))
      ).id;
      await control.alerts.create(tenant, { name: 'fleet', url: rx.url() }, null);
      const runs: string[] = [];
      for (let i = 0; i < 6; i++) {
        const { run } = await control.service.start({
          tenantId: tenant,
          type: 'test.task',
          inputs: { key: `fleet-${i}`, ...FAILING },
          initiator: { kind: 'system' },
        });
        runs.push(run.id);
      }
      await until(() => rx.received.length >= runs.length, 60_000, 'a delivery per failed run');
      await new Promise((r) => setTimeout(r, 3000));
      const delivered = rx.received.map((r) => JSON.parse(r.body).run.id as string);
      expect(delivered.sort()).toEqual([...runs].sort());
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => {});
      await testDb.destroy();
      await rx.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('alerts the live path missed', () => {
  it('a run that failed while no worker listened is delivered once when a worker starts', async () => {
    const rx = await receiver();
    const testDb = await createTestDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-alerts-catch-up-'));
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      SECRET_KEY: TEST_SECRET_KEY,
      LOG_LEVEL: 'warn',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_SECONDS: '1',
    };
    if (testDb.url) env.DATABASE_URL = testDb.url;
    const definitions = [testTaskType({ started: [], aborted: [] }, { maxAttempts: 1 })];
    const shared = { ...testDb.database, close: async () => {} };
    const stops: (() => Promise<void>)[] = [];
    const open = (worker: boolean) =>
      createOpsledger({
        config: loadConfig(env),
        definitions,
        logger: createLogger({ level: 'warn', destination: process.stderr as never }),
        worker,
        database: shared,
      });
    try {
      // No worker: nothing hears the run complete.
      const control = await open(false);
      stops.push(() => control.close());
      const tenant = (
        await control.database.systemTx((trx) => tenantRepository.create(trx, { name: 'Missed' }))
      ).id;
      const { target } = await control.alerts.create(tenant, { name: 'missed', url: rx.url() }, null);
      const { run } = await control.service.start({
        tenantId: tenant,
        type: 'test.task',
        inputs: { key: 'missed' },
        initiator: { kind: 'system' },
      });
      // Completed by another process of the fleet that has no alert worker (here: plain SQL).
      await sql`update operation_runs set status = 'running', started_at = now(), attempts = 1
                where tenant_id = ${tenant} and id = ${run.id}`.execute(control.database.db);
      await sql`update operation_runs set status = 'completed', outcome = 'failed', completed_at = now(),
                  failure_summary = ${JSON.stringify([{ code: 'boom', message: 'it broke', attempt: 1 }])}::jsonb
                where tenant_id = ${tenant} and id = ${run.id}`.execute(control.database.db);
      expect(await control.alerts.deliveries(tenant, target.id)).toEqual([]);

      // A worker starts: it catches up at once, and only once however often it sweeps.
      const worker = await open(true);
      stops.push(() => worker.close());
      await until(() => rx.received.length >= 1, 30_000, 'the caught-up delivery');
      expect(await worker.alerts.catchUp()).toBe(0);
      await new Promise((r) => setTimeout(r, 2500));
      expect(rx.received).toHaveLength(1);
      const payload = JSON.parse(rx.received[0]!.body);
      expect(payload).toMatchObject({ event: 'run.failed', run: { id: run.id, outcome: 'failed' } });
      const log = await worker.alerts.deliveries(tenant, target.id);
      expect(log.map((d) => [d.runId, d.event, d.status])).toEqual([[run.id, 'run.failed', 'delivered']]);
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => {});
      await testDb.destroy();
      await rx.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
