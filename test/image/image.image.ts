// The image as it is deployed (`npm run test:image`; never part of `npm test`): builds it with
// `npm run image`, then with podman on the host network runs PostgreSQL-backed `migrate`, `serve`
// and `worker` containers and the embedded variant on a volume. A run through the API succeeds;
// SIGTERM drains serve; a worker killed with SIGKILL has its run finished by a second worker; the
// embedded container killed and started again on its volume finds its data; nothing runs as root.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/main/config.ts';
import type { Opsledger } from '../../src/main/opsledger.ts';
import { openLedger } from '../../src/main/tasks.ts';
import { freePort } from '../helpers/pg-cluster.ts';
import { withDatabaseName } from '../helpers/target.ts';
import { timeBudget } from '../helpers/time.ts';

const IMAGE = 'localhost/opsledger:latest';
const ADMIN_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const SECRET_KEY = 'b'.repeat(64);
const id = `${process.pid}`;
const dbName = `opsledger_image_${id}`;
const dbUrl = withDatabaseName(ADMIN_URL, dbName);
const volume = `opsledger-it-${id}-data`;
const containers: string[] = [];
const log = (line: string) => console.log(`[image] ${line}`);

function podman(
  args: string[],
  options: { allowFail?: boolean } = {},
): { code: number; out: string; err: string } {
  const r = spawnSync('podman', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const result = { code: r.status ?? -1, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
  if (result.code !== 0 && !options.allowFail) {
    throw new Error(`podman ${args.join(' ')} exited ${result.code}: ${result.err || result.out}`);
  }
  return result;
}

/** runc (crun refuses hybrid cgroup layouts) and open-file/process limits within the machine's hard ones. */
function runFlags(): string[] {
  const hard = execFileSync('bash', ['-c', 'ulimit -Hn; ulimit -Hu'], { encoding: 'utf8' })
    .trim()
    .split('\n');
  const limit = (v: string | undefined, cap: number) =>
    v && /^\d+$/.test(v) ? Math.min(Number(v), cap) : cap;
  // Well below the hard limits: runc has refused an nproc near them on these machines.
  const nofile = limit(hard[0], 16384);
  const nproc = limit(hard[1], 4096);
  return [
    '--runtime',
    'runc',
    '--network',
    'host',
    '--ulimit',
    `nofile=${nofile}:${nofile}`,
    '--ulimit',
    `nproc=${nproc}:${nproc}`,
  ];
}

let envFile = '';
function writeEnvFile(dir: string): string {
  // Secrets from an environment file, as compose.yaml takes them.
  const file = path.join(dir, 'opsledger.env');
  fs.writeFileSync(
    file,
    [
      `SECRET_KEY=${SECRET_KEY}`,
      'ALLOW_SIMULATOR=true',
      'METRICS=open',
      'LOG_LEVEL=info',
      'STALE_RUN_SECONDS=5',
      'SHUTDOWN_GRACE_SECONDS=20',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

function run(name: string, env: Record<string, string>, args: string[], extra: string[] = []): string {
  const full = `opsledger-it-${id}-${name}`;
  podman(['rm', '-f', full], { allowFail: true });
  const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  podman([
    'run',
    '-d',
    '--name',
    full,
    ...runFlags(),
    '--env-file',
    envFile,
    ...envArgs,
    ...extra,
    IMAGE,
    ...args,
  ]);
  containers.push(full);
  return full;
}

function oneShot(env: Record<string, string>, args: string[], extra: string[] = []) {
  const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  return podman(['run', '--rm', ...runFlags(), '--env-file', envFile, ...envArgs, ...extra, IMAGE, ...args], {
    allowFail: true,
  });
}

async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeBudget(ms);
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${String(lastError ?? '')})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const ready = (port: number) =>
  until(
    `/readyz on port ${port}`,
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
  );

/** One API call on a connection of its own (no keep-alive socket to find closed under load). */
function api(port: number, token: string, method: string, url: string, body?: unknown) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const payload = body ? JSON.stringify(body) : undefined;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: `/api/v1${url}`,
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

type RunBody = { id: string; status: string; outcome: string | null; attempts: number };

let provisioned = 0;

/** A tenant, an operator and an API token of theirs, made by one-shot containers of the image. */
function provision(env: Record<string, string>, extra: string[] = []): { tenant: string; token: string } {
  const must = (r: { code: number; out: string; err: string }, what: string) => {
    if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.err}`);
    return r.out.split('\n').at(-1)!.trim();
  };
  const tenant = must(oneShot(env, ['tenant:create', '--name', 'Image tenant'], extra), 'tenant:create');
  const email = `ops-${id}-${++provisioned}@example.test`;
  must(
    oneShot(
      env,
      ['user:create', '--email', email],
      [...extra, '-e', 'OPSLEDGER_PASSWORD=image-test-password-2026'],
    ),
    'user:create',
  );
  must(
    oneShot(env, ['member:add', '--tenant', tenant, '--email', email, '--role', 'operator'], extra),
    'member:add',
  );
  const token = must(oneShot(env, ['token:create', '--email', email], extra), 'token:create');
  return { tenant, token };
}

async function runToSuccess(port: number, token: string, tenant: string): Promise<RunBody> {
  const started = await api(port, token, 'POST', `/tenants/${tenant}/operations`, {
    type: 'inventory.sync',
    inputs: {},
  });
  expect(started.status).toBe(202);
  const runId = (started.body.run as RunBody).id;
  return until(`run ${runId} to complete`, async () => {
    const r = await api(port, token, 'GET', `/tenants/${tenant}/operations/${runId}`);
    const body = r.body as unknown as RunBody;
    return body.status === 'completed' ? body : null;
  });
}

let tmp = '';
let admin: pg.Client;

beforeAll(async () => {
  const which = spawnSync('podman', ['--version'], { encoding: 'utf8' });
  if (which.status !== 0)
    throw new Error('podman is not installed: apt-get install podman runc mmdebstrap uidmap');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-image-'));
  envFile = writeEnvFile(tmp);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const build = spawn('npm', ['run', '--silent', 'image'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    build.stdout.on('data', (d) => {
      out += d;
    });
    build.stderr.on('data', (d) => {
      out += d;
    });
    build.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`npm run image exited ${code}: ${out}`)),
    );
  });
  const size = Number(podman(['image', 'inspect', IMAGE, '--format', '{{.Size}}']).out);
  log(`image built in ${Math.round((Date.now() - started) / 1000)} s, ${Math.round(size / 1e6)} MB`);
  admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.query(`create database ${dbName}`);
}, timeBudget(1_800_000));

afterAll(async () => {
  // Each container's log, for a failure's post-mortem.
  const logs = path.resolve('node_modules/.cache/opsledger-image/logs');
  fs.mkdirSync(logs, { recursive: true });
  for (const c of containers) {
    const r = podman(['logs', c], { allowFail: true });
    fs.writeFileSync(path.join(logs, `${c}.log`), `${r.out}\n${r.err}\n`);
  }
  if (containers.length > 0) log(`container logs in ${logs}`);
  for (const c of containers) podman(['rm', '-f', '-t', '0', c], { allowFail: true });
  podman(['volume', 'rm', '-f', volume], { allowFail: true });
  await admin?.query(`drop database if exists ${dbName} with (force)`).catch(() => {});
  await admin?.end().catch(() => {});
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}, timeBudget(120_000));

describe('the image', () => {
  it('carries the OCI labels, a HEALTHCHECK, a volume for /data and an unprivileged user', () => {
    const inspect = JSON.parse(podman(['image', 'inspect', IMAGE]).out)[0];
    const labels = inspect.Config.Labels as Record<string, string>;
    const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string };
    expect(labels['org.opencontainers.image.version']).toBe(pkg.version);
    // The commit the image was built from: this checkout's HEAD or an ancestor of it.
    const revision = labels['org.opencontainers.image.revision']!;
    expect(revision).toMatch(/^[0-9a-f]{40}$/);
    expect(spawnSync('git', ['merge-base', '--is-ancestor', revision, 'HEAD']).status).toBe(0);
    expect(labels['org.opencontainers.image.source']).toMatch(/^\S+$/);
    expect(inspect.Config.User).toBe('10001:10001');
    expect(Object.keys(inspect.Config.Volumes ?? {})).toEqual(['/data']);
    expect(inspect.Config.Entrypoint).toEqual([
      '/usr/bin/tini',
      '--',
      '/usr/local/bin/node',
      '/app/bin/opsledger.js',
    ]);
    const health = podman(['image', 'inspect', IMAGE, '--format', '{{json .HealthCheck}}']).out;
    expect(health).toContain('/app/healthcheck.js');
  });
});

describe('on PostgreSQL: migrate, serve and workers', () => {
  const env = { DATABASE_URL: dbUrl };
  let servePort = 0;
  let worker1Port = 0;
  let serve = '';
  let worker1 = '';
  let tenant = '';
  let token = '';
  let tenant2 = '';

  it('migrate runs once and exits; serve and a worker become healthy, as a non-root user', async () => {
    const migrated = oneShot(env, ['migrate']);
    expect(migrated.code, migrated.err).toBe(0);
    servePort = await freePort();
    worker1Port = await freePort();
    serve = run('serve', { ...env, PORT: String(servePort) }, ['serve']);
    worker1 = run('worker1', { ...env, WORKER_PORT: String(worker1Port) }, ['worker']);
    const coldStart = Date.now();
    await ready(servePort);
    log(`serve ready ${((Date.now() - coldStart) / 1000).toFixed(1)} s after podman run returned`);
    await ready(worker1Port);
    // The image's own HEALTHCHECK says healthy for both (server's port, worker's port).
    for (const c of [serve, worker1]) {
      await until(
        `${c} healthy`,
        async () => podman(['healthcheck', 'run', c], { allowFail: true }).code === 0,
      );
    }
    for (const c of [serve, worker1]) {
      const uids = podman(['exec', c, 'sh', '-c', 'grep -h "^Uid:" /proc/[0-9]*/status | sort -u']).out;
      expect(uids.split('\n').length).toBeGreaterThan(0);
      for (const line of uids.split('\n')) expect(line).toMatch(/^Uid:\s+10001\s+10001\s+10001\s+10001$/);
      const top = podman(['top', c, 'user', 'args']).out;
      expect(top).toMatch(/opsledger\s+\/usr\/bin\/tini/);
      expect(top).toMatch(/opsledger\s+\/usr\/local\/bin\/node \/app\/bin\/opsledger.js/);
      expect(top).not.toMatch(/^root\s/m);
    }
  });

  it('a run started through the API completes, and the process that ran it counts it in /metrics', async () => {
    ({ tenant, token } = provision(env));
    const final = await runToSuccess(servePort, token, tenant);
    expect(final).toMatchObject({ status: 'completed', outcome: 'succeeded', attempts: 1 });
    const count = async (port: number) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const m = /^opsledger_runs_completed_total\{type="inventory.sync",outcome="succeeded"\} (\d+)$/m.exec(
        text,
      );
      return Number(m?.[1] ?? 0);
    };
    expect((await count(servePort)) + (await count(worker1Port))).toBe(1);
    const second = provision(env);
    tenant2 = second.tenant;
    expect(tenant2).not.toBe(tenant);
  });

  it('SIGTERM to serve: new connections are refused, the request in flight finishes, it exits 0', async () => {
    const holder = new pg.Client({ connectionString: dbUrl });
    await holder.connect();
    try {
      // A request that waits on a table lock is in flight when the signal arrives.
      await holder.query('begin');
      await holder.query('lock table inventory_items in access exclusive mode');
      const inFlight = api(servePort, token, 'GET', `/tenants/${tenant}/inventory`);
      await until('the request to reach the database', async () => {
        const { rows } = await holder.query(
          `select count(*)::int as n from pg_locks where relation = 'inventory_items'::regclass and not granted`,
        );
        return rows[0].n > 0;
      });
      podman(['kill', '--signal', 'TERM', serve]);
      await until('serve to refuse new connections', async () => {
        try {
          await fetch(`http://127.0.0.1:${servePort}/healthz`, { signal: AbortSignal.timeout(2000) });
          return false;
        } catch {
          return true;
        }
      });
      await holder.query('commit');
      const answered = await inFlight;
      expect(answered.status).toBe(200);
      const code = podman(['wait', serve]).out;
      expect(code).toBe('0');
      expect(podman(['logs', serve]).out).toContain('Stopping: finishing work in flight');
    } finally {
      await holder.end().catch(() => {});
    }
  });

  it('SIGKILL to a worker in the middle of a run: a second worker finishes it', async () => {
    const config = loadConfig({
      DATABASE_URL: dbUrl,
      SECRET_KEY,
      ALLOW_SIMULATOR: 'true',
      LOG_LEVEL: 'silent',
    });
    // Starts the run without a worker of its own: worker1 is the only one left.
    const starter: Opsledger = await openLedger(config, { worker: false });
    const holder = new pg.Client({ connectionString: dbUrl });
    await holder.connect();
    try {
      // The run reads its tenant's Graph connection first: held there, it stays in worker1's hands.
      await holder.query('begin');
      await holder.query('lock table tenant_graph_connections in access exclusive mode');
      const { run: killed } = await starter.service.start({
        tenantId: tenant2,
        type: 'inventory.sync',
        inputs: {},
        initiator: { kind: 'system' },
      });
      await until('worker1 to take the run', async () => {
        const row = await starter.service.getRow(tenant2, killed.id);
        return row.status === 'running';
      });
      podman(['kill', '--signal', 'KILL', worker1]);
      expect(podman(['wait', worker1]).out).toBe('137');
      const worker2Port = await freePort();
      const worker2 = run('worker2', { ...env, WORKER_PORT: String(worker2Port) }, ['worker']);
      await ready(worker2Port);
      await holder.query('commit');
      const final = await until('the run to be finished by worker2', async () => {
        const row = await starter.service.getRow(tenant2, killed.id);
        return row.status === 'completed' ? row : null;
      });
      expect(final).toMatchObject({ status: 'completed', outcome: 'succeeded', attempts: 2 });
      const text = await (await fetch(`http://127.0.0.1:${worker2Port}/metrics`)).text();
      expect(text).toMatch(
        /^opsledger_runs_completed_total\{type="inventory.sync",outcome="succeeded"\} 1$/m,
      );
      log(`run ${killed.id}: worker1 killed mid-run, finished by worker2 on attempt ${final.attempts}`);
      podman(['kill', '--signal', 'TERM', worker2]);
      expect(podman(['wait', worker2]).out).toBe('0');
    } finally {
      await holder.end().catch(() => {});
      await starter.close();
    }
  });
});

describe('embedded database on a volume', () => {
  it('keeps its data across a kill and a start of the same container; a second container is refused', async () => {
    podman(['volume', 'rm', '-f', volume], { allowFail: true });
    podman(['volume', 'create', volume]);
    const mount = ['-v', `${volume}:/data`];
    const env = { DATABASE_URL: '' };
    const { tenant, token } = provision(env, mount);
    const port = await freePort();
    const c = run('embedded', { ...env, PORT: String(port) }, ['serve'], mount);
    await ready(port);
    const final = await runToSuccess(port, token, tenant);
    expect(final).toMatchObject({ status: 'completed', outcome: 'succeeded' });

    // Another container on the same volume while this one holds it: refused, in one line.
    const second = oneShot(env, ['migrate'], mount);
    expect(second.code).toBe(1);
    // On the host's network both containers have the host's name (and node the same pid): the pid
    // namespace tells them apart, and the holder's heartbeat keeps its lock.
    expect(second.err).toMatch(/embedded database in \/data is in use by process \d+ in another container/);

    const lockBefore = JSON.parse(podman(['exec', c, 'cat', '/data/opsledger.lock']).out);
    // A crash leaves the lock behind; the same container started again has the same host name
    // and, as PID 1's child, very likely the same pid: it must take the lock over (once the dead
    // holder's heartbeat is over), not refuse it as its own nor as someone else's for ever.
    podman(['kill', '--signal', 'KILL', c]);
    podman(['wait', c]);
    podman(['start', c]);
    await ready(port);
    const lockAfter = JSON.parse(podman(['exec', c, 'cat', '/data/opsledger.lock']).out);
    log(
      `embedded restart: lock left by pid ${lockBefore.pid} (start ${lockBefore.startTime}, ${lockBefore.pidNamespace}), taken over by pid ${lockAfter.pid} (start ${lockAfter.startTime}, ${lockAfter.pidNamespace})`,
    );
    expect(lockAfter.host).toBe(lockBefore.host);
    expect(lockAfter.startTime).not.toBe(lockBefore.startTime);
    const again = await api(port, token, 'GET', `/tenants/${tenant}/operations/${final.id}`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: final.id, status: 'completed', outcome: 'succeeded' });
    const uid = podman(['exec', c, 'stat', '-c', '%u', '/data/opsledger.lock']).out;
    expect(uid).toBe('10001');
    podman(['kill', '--signal', 'TERM', c]);
    expect(podman(['wait', c]).out).toBe('0');
  });
});
