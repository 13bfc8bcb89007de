// `opsledger worker` on its own port (WORKER_PORT): liveness, readiness and the metrics of the runs
// it executes, in process and as the real command; and its start behind a transaction pooler
// without DATABASE_DIRECT_URL, which must stop with one line naming the variable.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerHttpServer } from '../src/main/http.ts';
import { createTestDatabase } from './helpers/db.ts';
import { startTestLedger, TEST_SECRET_KEY, type TestLedger } from './helpers/ledger.ts';
import { PGBOUNCER, startPgBouncer } from './helpers/pgbouncer.ts';
import { CORPUS } from './helpers/secret-corpus.ts';
import { testTaskType } from './helpers/test-types.ts';
import { timeBudget } from './helpers/time.ts';

const onPostgres = Boolean(process.env.DATABASE_URL);
console.log(
  `[worker-http] database: ${onPostgres ? 'PostgreSQL (and PgBouncer in transaction mode)' : 'embedded (the PgBouncer start check runs in the PostgreSQL pass only)'}`,
);

describe('the worker’s own HTTP listener, in process', () => {
  let ledger: TestLedger;
  let app: FastifyInstance;
  let url: string;
  let stopping = false;

  beforeAll(async () => {
    ledger = await startTestLedger({ definitions: [testTaskType({ started: [], aborted: [] })] });
    app = await createWorkerHttpServer(ledger, () => stopping);
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    await ledger?.stop();
  });

  it('answers /healthz and /readyz, counts the runs it executes in /metrics, and says 503 once stopping', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: ledger.database.kind });

    const tenant = await ledger.createTenant('Metrics tenant');
    const runs = [];
    for (let i = 0; i < 3; i++) {
      const { run } = await ledger.service.start({
        tenantId: tenant,
        type: 'test.task',
        inputs: { key: `w${i}`, failTimes: i === 2 ? -1 : 0 },
        initiator: { kind: 'system' },
      });
      runs.push(run.id);
    }
    for (const id of runs)
      await ledger.waitForRun(tenant, id, (r) => r.status === 'completed', timeBudget(60_000));
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/^opsledger_runs_completed_total\{type="test.task",outcome="succeeded"\} 2$/m);
    expect(text).toMatch(/^opsledger_runs_completed_total\{type="test.task",outcome="failed"\} 1$/m);
    expect(text).toMatch(/^opsledger_run_duration_seconds_count\{type="test.task",outcome="succeeded"\} 2$/m);
    expect(text).toMatch(/^opsledger_runs_active\{status="running"\} 0$/m);
    expect(text).toMatch(/^opsledger_queue_depth \d+$/m);
    // Counts by type only: no tenant, no run id, no input.
    expect(text).not.toContain(tenant);
    for (const id of runs) expect(text).not.toContain(id);

    // Nothing but the probes: no API, no UI; unknown paths are the usual problem JSON.
    const api = await fetch(`${url}/api/v1/tenants`);
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((await fetch(`${url}/`)).status).toBe(404);

    stopping = true;
    const draining = await fetch(`${url}/readyz`);
    expect(draining.status).toBe(503);
    expect(await draining.json()).toEqual({ status: 'unavailable', reason: 'stopping' });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('serves /metrics only as METRICS says: a token is asked for and never echoed', async () => {
    const token = 'worker-metrics-token-0123456789';
    const guarded = await createWorkerHttpServer(
      { ...ledger, config: { ...ledger.config, metrics: { mode: 'token', token } } },
      () => false,
    );
    const off = await createWorkerHttpServer(
      { ...ledger, config: { ...ledger.config, metrics: { mode: 'off' } } },
      () => false,
    );
    try {
      const refused = await guarded.inject({ url: '/metrics' });
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
      for (const secret of CORPUS.flatMap(([, secrets]) => secrets).slice(0, 6)) {
        const wrong = await guarded.inject({
          url: '/metrics',
          headers: { authorization: `Bearer ${secret}` },
        });
        expect(wrong.statusCode).toBe(401);
        expect(wrong.body).not.toContain(secret);
        expect(wrong.body).not.toContain(token);
      }
      const ok = await guarded.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain('opsledger_runs_completed_total');
      expect((await off.inject({ url: '/metrics' })).statusCode).toBe(404);
      expect((await off.inject({ url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await guarded.close();
      await off.close();
    }
  });
});

type Proc = { child: ChildProcess; lines: string[]; stderr: () => string; exited: Promise<number | null> };

function opsledger(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['bin/opsledger.js', ...args], {
    env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'warn', SECRET_KEY: TEST_SECRET_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, lines, stderr: () => err, exited };
}

async function waitForLine(p: Proc, re: RegExp, what: string): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeBudget(60_000);
  for (;;) {
    for (const l of p.lines) {
      const m = re.exec(l);
      if (m) return m;
    }
    if (p.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${what}: no line ${re} (exit ${p.child.exitCode}); stderr: ${p.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('opsledger worker, the command', () => {
  const dirs: string[] = [];
  const procs: Proc[] = [];
  afterAll(() => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('listens on WORKER_PORT for /healthz, /readyz and /metrics, and stops cleanly on SIGTERM', async () => {
    const testDb = onPostgres ? await createTestDatabase() : null;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-worker-'));
    dirs.push(dataDir);
    try {
      const p = opsledger(['worker'], {
        WORKER_PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        ...(testDb?.url ? { DATABASE_URL: testDb.url } : {}),
      });
      procs.push(p);
      const [, url] = await waitForLine(p, /health and metrics on (http:\/\/\S+)\)/, 'worker');
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', database: onPostgres ? 'postgres' : 'pglite' });
      const metrics = await fetch(`${url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('# TYPE opsledger_runs_completed_total counter');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await testDb?.destroy();
    }
  });

  it('without WORKER_PORT it says how to get one', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-worker-'));
    dirs.push(dataDir);
    const p = opsledger(['worker'], { DATA_DIR: dataDir, WORKER_PORT: '' });
    procs.push(p);
    await waitForLine(p, /^Opsledger worker started \(no health port: set WORKER_PORT\)$/, 'worker');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('refuses a bad WORKER_PORT with one line', async () => {
    const p = opsledger(['worker'], { WORKER_PORT: 'http' });
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toBe(
      'opsledger: configuration error: WORKER_PORT must be off or a port from 0 to 65535, got "http"\n',
    );
  });
});

describe.runIf(onPostgres && fs.existsSync(PGBOUNCER))('behind PgBouncer in transaction mode', () => {
  it('worker and serve stop at start with one line naming DATABASE_DIRECT_URL; with it set they start', async () => {
    const testDb = await createTestDatabase();
    const bouncer = await startPgBouncer(testDb.url!);
    try {
      for (const args of [['worker'], ['serve', '--port', '0']]) {
        const p = opsledger(args, { DATABASE_URL: bouncer.url, WORKER_PORT: '0', HOST: '127.0.0.1' });
        expect(await p.exited, args[0]).toBe(1);
        const lines = p.stderr().split('\n').filter(Boolean);
        expect(lines, args[0]).toHaveLength(1);
        expect(lines[0]).toMatch(
          /^opsledger: configuration error: DATABASE_URL goes through a transaction pooler .*set DATABASE_DIRECT_URL to PostgreSQL itself/,
        );
        expect(lines[0]).not.toContain(bouncer.url);
      }
      // The direct URL pointing at the pooler too is named as such.
      const both = opsledger(['worker'], { DATABASE_URL: bouncer.url, DATABASE_DIRECT_URL: bouncer.url });
      expect(await both.exited).toBe(1);
      expect(both.stderr()).toMatch(
        /^opsledger: configuration error: DATABASE_DIRECT_URL does not reach PostgreSQL directly/,
      );

      const ok = opsledger(['worker'], {
        DATABASE_URL: bouncer.url,
        DATABASE_DIRECT_URL: testDb.url!,
        WORKER_PORT: '0',
        HOST: '127.0.0.1',
      });
      try {
        const [, url] = await waitForLine(
          ok,
          /health and metrics on (http:\/\/\S+)\)/,
          'worker behind PgBouncer',
        );
        expect((await fetch(`${url}/readyz`)).status).toBe(200);
        ok.child.kill('SIGTERM');
        expect(await ok.exited).toBe(0);
      } finally {
        if (ok.child.exitCode === null) ok.child.kill('SIGKILL');
      }
    } finally {
      await bouncer.stop();
      await testDb.destroy();
    }
  });
});
