// A fleet behind PgBouncer in transaction mode: two `serve` and two `worker` processes on one
// database, every app connection through the pooler and only the queue and the change feed's
// LISTEN direct (DATABASE_DIRECT_URL). 200 runs across 30 tenants through both servers, one
// worker killed with SIGKILL midway; every run completes once, the reaper never runs twice at
// once, a stream on one server sees runs started through the other, a schedule fires once.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantRepository } from '../src/access/tenants.ts';
import type { HttpApp } from '../src/http/app.ts';
import { loadConfig } from '../src/main/config.ts';
import { createHttpServer } from '../src/main/http.ts';
import { createOpsledger, type Opsledger } from '../src/main/opsledger.ts';
import { createLogger } from '../src/shared/logger.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import { freePort } from './helpers/pg-cluster.ts';
import { openStream } from './helpers/sse.ts';
import { testTaskType } from './helpers/test-types.ts';

const PGBOUNCER = '/usr/sbin/pgbouncer';
const POOL_SIZE = 12;
const TENANTS = 30;
const RUNS = 200;
const onPostgres = Boolean(process.env.DATABASE_URL);
if (!onPostgres)
  console.log(
    '[scale-pgbouncer-fleet] skipped: PgBouncer and a fleet of processes need PostgreSQL (PostgreSQL pass only)',
  );

type Member = { proc: ChildProcess; role: string; url: string; started: string[]; exited: Promise<void> };

let testDb: TestDatabase;
let setup: Opsledger;
let app: HttpApp;
let bouncer: ChildProcess | null = null;
let bouncerUrl = '';
let dir = '';
const fleet: Member[] = [];
const spawned: ChildProcess[] = [];
const tenants: string[] = [];
let token = '';

async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms = 120_000,
  explain: () => Promise<unknown> = async () => '',
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what} ${JSON.stringify(await explain())}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startBouncer(directUrl: string): Promise<string> {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-pgbouncer-'));
  fs.chmodSync(dir, 0o755);
  const direct = new URL(directUrl);
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  fs.writeFileSync(path.join(dir, 'users.txt'), `"${decodeURIComponent(direct.username)}" ""\n`);
  fs.writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${direct.hostname} port=${direct.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${POOL_SIZE}`,
      'max_client_conn = 2000',
      `admin_users = ${decodeURIComponent(direct.username)}`,
      '',
    ].join('\n'),
  );
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
  // PgBouncer refuses to run as root; it drops to the postgres user then.
  const args = process.getuid?.() === 0 ? ['-u', 'postgres', ini] : [ini];
  bouncer = spawn(PGBOUNCER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  bouncer.stderr!.on('data', () => {});
  const url = new URL(directUrl);
  url.port = String(port);
  await until(
    'PgBouncer to accept connections',
    async () => {
      const c = new pg.Client({ connectionString: url.toString() });
      try {
        await c.connect();
        await c.query('select 1');
        return true;
      } catch {
        return false;
      } finally {
        await c.end().catch(() => {});
      }
    },
    20_000,
  );
  return url.toString();
}

function startMember(role: 'serve' | 'worker', env: Record<string, string>): Promise<Member> {
  const proc = spawn(process.execPath, ['test/fixtures/fleet-process.ts', role], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const started: string[] = [];
  // Killed in afterAll whatever happens next, even when a sibling fails to start.
  spawned.push(proc);
  // 'close' comes after the last line of its output: every run it started is known by then.
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${role} exited early (${code})`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const [word, arg] = line.split(' ');
      if (word === 'started') started.push(arg!);
      if (word === 'ready') resolve({ proc, role, url: arg!, started, exited });
    });
  });
}

const db = () => setup.database.db;

async function poolerStats(): Promise<{ clients: number; servers: number }> {
  const admin = new URL(bouncerUrl);
  admin.pathname = '/pgbouncer';
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    const name = new URL(testDb.url!).pathname.slice(1);
    const { rows } = await c.query('show pools');
    const pool = rows.find((r) => r.database === name) ?? {};
    const n = (k: string) => Number(pool[k] ?? 0);
    return {
      clients: n('cl_active') + n('cl_waiting') + (n('cl_idle') || 0),
      servers: n('sv_active') + n('sv_idle') + n('sv_used') + n('sv_tested') + n('sv_login'),
    };
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  if (!onPostgres) return;
  testDb = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: testDb.url!,
    SECRET_KEY: TEST_SECRET_KEY,
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-fleet-')),
  });
  setup = await createOpsledger({
    config,
    definitions: [testTaskType({ started: [], aborted: [] })],
    logger: createLogger({ level: 'silent' }),
    worker: false,
    database: testDb.database,
  });
  app = await createHttpServer(setup, { suite: false });
  await app.ready();
  const user = await app.opsledger.access.createUser({
    email: 'fleet@example.test',
    password: 'many-processes-one-ledger-2026',
  });
  for (let i = 0; i < TENANTS; i++) {
    const t = await setup.database.systemTx((trx) => tenantRepository.create(trx, { name: `Fleet ${i}` }));
    tenants.push(t.id);
    await app.opsledger.access.addMember(t.id, user.email, 'operator');
  }
  token = (await app.opsledger.credentials.createToken(user.id, 'fleet')).secret;
  // Due at the next minute, whichever process takes it.
  await setup.schedules.create(
    tenants[1]!,
    { name: 'Every minute', type: 'test.task', inputs: { key: 'scheduled' }, cron: '* * * * *' },
    null,
  );
  bouncerUrl = await startBouncer(testDb.url!);
  const env = {
    DATABASE_URL: bouncerUrl,
    DATABASE_DIRECT_URL: testDb.url!,
    SECRET_KEY: TEST_SECRET_KEY,
    STALE_RUN_SECONDS: '5',
    TENANT_CONCURRENCY: '4',
    LOG_LEVEL: 'warn',
  };
  const members = await Promise.all([
    startMember('serve', { ...env, DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-fleet-s1-')) }),
    startMember('serve', { ...env, DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-fleet-s2-')) }),
    startMember('worker', {
      ...env,
      DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-fleet-w1-')),
    }),
    startMember('worker', {
      ...env,
      DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-fleet-w2-')),
    }),
  ]);
  fleet.push(...members);
}, 120_000);

afterAll(async () => {
  for (const p of spawned) p.kill('SIGKILL');
  await Promise.all(
    spawned.map((p) =>
      p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => p.once('exit', r)),
    ),
  );
  bouncer?.kill('SIGTERM');
  await app?.close();
  await setup?.close();
  await testDb?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!onPostgres)('a fleet behind PgBouncer (transaction mode)', () => {
  it('runs 200 runs across 30 tenants once each through two servers and two workers, one of them killed midway', async () => {
    const [s1, s2, victim] = fleet as [Member, Member, Member, Member];
    const stream = openStream(`${s1.url}/api/v1/tenants/${tenants[0]}/operations/stream`, token);
    await stream.ready;
    const started: { id: string; tenant: string; via: string }[] = [];
    const start = async (i: number) => {
      // Each tenant's runs alternate between the two servers.
      const server = Math.floor(i / TENANTS) % 2 === 0 ? s1 : s2;
      const tenant = tenants[i % TENANTS]!;
      const res = await fetch(`${server.url}/api/v1/tenants/${tenant}/operations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          type: 'test.task',
          inputs: { key: `fleet-${i}`, sleepMs: 300 + ((i * 37) % 900) },
        }),
      });
      expect(res.status).toBe(202);
      const body = (await res.json()) as { run: { id: string } };
      started.push({ id: body.run.id, tenant, via: server === s1 ? 's1' : 's2' });
    };
    const batch = async (from: number, to: number) => {
      for (let i = from; i < to; i += 10) {
        await Promise.all(Array.from({ length: Math.min(10, to - i) }, (_, k) => start(i + k)));
      }
    };
    const connections = async () =>
      (
        await sql<{ app: string; n: number }>`
          select coalesce(nullif(application_name, ''), '(none)') as app, count(*)::int as n from pg_stat_activity
          where datname = current_database() group by 1 order by 1`.execute(db())
      ).rows;

    await batch(0, RUNS / 2);
    // Kill the worker while it holds runs: wait until one it started is running.
    await until('the victim worker to hold a running run', async () => {
      if (victim.started.length === 0) return false;
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from operation_runs
        where id = any(${victim.started}::uuid[]) and status = 'running'`.execute(db());
      return rows[0]!.n > 0;
    });
    const during = await connections();
    const pooled = await poolerStats();
    // What the survivors had begun before the kill: none of it can be the dead worker's.
    const survivorsBefore = new Set(fleet.filter((m) => m !== victim).flatMap((m) => [...m.started]));
    victim.proc.kill('SIGKILL');
    await victim.exited;
    const { rows: inHand } = await sql<{ id: string }>`
      select id from operation_runs where id = any(${victim.started}::uuid[]) and status = 'running'`.execute(
      db(),
    );
    await batch(RUNS / 2, RUNS);

    const ids = started.map((s) => s.id);
    const done = await until(
      'every run to complete',
      async () => {
        const { rows } = await sql<{
          id: string;
          status: string;
          outcome: string;
          attempts: number;
          failure_summary: unknown;
        }>`
        select id, status, outcome, attempts, failure_summary from operation_runs where id = any(${ids}::uuid[])`.execute(
          db(),
        );
        return rows.length === RUNS && rows.every((r) => r.status === 'completed') ? rows : null;
      },
      180_000,
      async () => {
        const { rows } = await sql`
        select r.status, r.attempts, j.state as job, count(*)::int as n from operation_runs r
        left join pgboss.job j on j.id = r.job_id
        where r.id = any(${ids}::uuid[]) group by 1, 2, 3`.execute(db());
        return { runs: rows, fleet: fleet.map((m) => [m.role, m.proc.exitCode, m.started.length]) };
      },
    );

    // The runs the killed worker held: those it said it had begun and were still running when it
    // died, and possibly a few it had claimed but not yet announced (killed between the claim's
    // commit and its handler's first line). Each was reaped as worker_lost and ran again once.
    const inHandIds = new Set(inHand.map((r) => r.id));
    const codes = (r: { failure_summary: unknown }) =>
      ((r.failure_summary as { code?: string }[] | null) ?? []).map((f) => f.code);
    expect(inHandIds.size).toBeGreaterThan(0);
    const lost = new Set<string>();
    for (const r of done) {
      const once = { outcome: 'succeeded', attempts: 1, codes: [] as string[] };
      const twice = { outcome: 'succeeded', attempts: 2, codes: ['worker_lost'] };
      const seen = { outcome: r.outcome, attempts: r.attempts, codes: codes(r) };
      if (r.attempts === 2) lost.add(r.id);
      expect({ id: r.id, ...seen }).toEqual({
        id: r.id,
        ...(inHandIds.has(r.id) || r.attempts === 2 ? twice : once),
      });
      // A run lost with the worker was never begun by a surviving process before the kill.
      if (r.attempts === 2)
        expect({ id: r.id, beganElsewhere: survivorsBefore.has(r.id) }).toEqual({
          id: r.id,
          beganElsewhere: false,
        });
    }
    // One run per start, no run twice.
    expect(new Set(ids).size).toBe(RUNS);

    // The stream on server 1 saw the runs of its tenant started through server 2.
    const viaS2 = started.filter((s) => s.tenant === tenants[0] && s.via === 's2').map((s) => s.id);
    expect(viaS2.length).toBeGreaterThan(0);
    await until(
      'server 1 stream to see runs started through server 2',
      async () =>
        viaS2.every((id) =>
          stream.received.some((m) => 'event' in m && m.data?.id === id && m.data?.status === 'completed'),
        ),
      30_000,
    );
    stream.close();

    // The reaper: offered by every worker each period, never running in two processes at once.
    const { rows: reaps } = await sql<{ started_on: Date; completed_on: Date }>`
      select started_on, completed_on from pgboss.job
      where name = 'opsledger-reaper' and state = 'completed' order by started_on`.execute(db());
    expect(reaps.length).toBeGreaterThan(1);
    for (let i = 1; i < reaps.length; i++) {
      expect(reaps[i]!.started_on.getTime()).toBeGreaterThanOrEqual(reaps[i - 1]!.completed_on.getTime());
    }

    // The schedule fires once per minute across the fleet (four processes evaluate it).
    const fired = await until(
      'the schedule to fire',
      async () => {
        const { rows } = await sql<{ minute: string; n: number }>`
        select to_char(date_trunc('minute', created_at), 'HH24:MI') as minute, count(*)::int as n
        from operation_runs where tenant_id = ${tenants[1]!} and initiator_kind = 'schedule' group by 1`.execute(
          db(),
        );
        return rows.length > 0 ? rows : null;
      },
      90_000,
    );
    for (const f of fired) expect(f).toEqual({ minute: f.minute, n: 1 });
    // The pruner and the schedule backstop are pg-boss crons: registered once for the fleet.
    const { rows: crons } = await sql<{ name: string; n: number }>`
      select name, count(*)::int as n from pgboss.schedule group by name order by name`.execute(db());
    expect(crons).toEqual([
      { name: 'opsledger-pruner', n: 1 },
      { name: 'opsledger-schedules', n: 1 },
    ]);

    // Through the pooler the app connections of four processes share POOL_SIZE server connections.
    expect(pooled.servers).toBeLessThanOrEqual(POOL_SIZE);
    console.log(
      `[scale-pgbouncer-fleet] ${RUNS} runs, ${lost.size} in hand of the killed worker (attempts 2, worker_lost), ` +
        `${reaps.length} reaper runs without overlap, schedule firings ${JSON.stringify(fired)}; ` +
        `PgBouncer: ${pooled.clients} client connections on ${pooled.servers} server connections (pool ${POOL_SIZE}); ` +
        `PostgreSQL sessions by application while running: ${JSON.stringify(during)}`,
    );
  }, 300_000);
});
