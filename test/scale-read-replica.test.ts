import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { tenantRepository } from '../src/access/tenants.ts';
import type { HttpApp } from '../src/http/app.ts';
import { loadConfig } from '../src/main/config.ts';
import { createHttpServer } from '../src/main/http.ts';
import { createOpsledger, type Opsledger } from '../src/main/opsledger.ts';
import { createLogger } from '../src/shared/logger.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import {
  asPostgres,
  type Cluster,
  clusterAt,
  freePort,
  initdb,
  ownForPostgres,
  POSTGRES_BIN,
} from './helpers/pg-cluster.ts';
import { onPostgres } from './helpers/target.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

/**
 * A primary and a streaming replica of its own, in one temporary folder, each on its own port: the
 * primary from initdb (wal_level=replica; initdb's pg_hba already trusts replication from
 * 127.0.0.1), the replica from pg_basebackup -R, which writes primary_conninfo and standby.signal.
 */
async function primaryAndReplica(dir: string): Promise<{ primary: Cluster; replica: Cluster }> {
  ownForPostgres(dir);
  const settings = ['wal_level=replica', 'max_wal_senders=4'];
  const primaryPort = await freePort();
  const primaryData = path.join(dir, 'primary');
  initdb(primaryData);
  const primary = clusterAt(dir, 'primary', primaryData, primaryPort, settings);
  primary.start();
  const replicaData = path.join(dir, 'replica');
  asPostgres(`${POSTGRES_BIN}/pg_basebackup`, [
    ...['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres'],
    ...['-D', replicaData, '-R', '-X', 'stream', '-c', 'fast'],
  ]);
  const replica = clusterAt(dir, 'replica', replicaData, await freePort(), settings);
  replica.start();
  return { primary, replica };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await (async () => fn())().catch(() => {});
});

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

if (!onPostgres()) {
  console.log('[read-replica] skipped: the embedded database has no replica (runs in the PostgreSQL pass)');
}

describe.skipIf(!onPostgres())('a read replica for monitoring reads', () => {
  it('serves the list from a streaming replica, reads its own writes, and falls back to the primary while it lags or is down', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-replica-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const { primary, replica } = await primaryAndReplica(dir);
    cleanups.push(
      () => primary.stop(),
      () => replica.stop(),
    );

    const maxLagSeconds = 10;
    const config = loadConfig({
      DATABASE_URL: primary.url,
      DATABASE_READ_URL: replica.url,
      DATABASE_READ_MAX_LAG_SECONDS: String(maxLagSeconds),
      SECRET_KEY: TEST_SECRET_KEY,
      DATA_DIR: os.tmpdir(),
    });
    const log: HandlerLog = { started: [], aborted: [] };
    const ledger: Opsledger = await createOpsledger({
      config,
      definitions: [testTaskType(log)],
      logger: createLogger({ level: 'silent' }),
      worker: true,
    });
    cleanups.push(() => ledger.close());
    const app: HttpApp = await createHttpServer(ledger, {
      suite: false,
      limits: { startsPerMinute: 100_000 },
    });
    cleanups.push(() => app.close());
    expect(ledger.database.readReplica).not.toBeNull();

    const tenant = await ledger.database.systemTx((trx) => tenantRepository.create(trx, { name: 'Replica' }));
    const user = await app.opsledger.access.createUser({
      email: 'replica@example.test',
      password: 'reads-far-away-1',
    });
    await app.opsledger.access.addMember(tenant.id, user.email, 'operator');
    const { secret } = await app.opsledger.credentials.createToken(user.id, 'replica');
    const headers = { authorization: `Bearer ${secret}` };
    const runs = `/api/v1/tenants/${tenant.id}/operations`;
    // A second tenant with no runs, whose reads nothing but the replica's health steers.
    const quiet = await ledger.database.systemTx((trx) => tenantRepository.create(trx, { name: 'Quiet' }));
    await app.opsledger.access.addMember(quiet.id, user.email, 'viewer');
    const quietRuns = `/api/v1/tenants/${quiet.id}/operations`;

    /** Reads served by each side so far, as /metrics reports them. */
    const served = async () => {
      const text = (await app.inject({ url: '/metrics' })).body;
      const sum = (side: string, reason?: string) =>
        [...text.matchAll(/^opsledger_monitoring_reads_total\{served_by="(\w+)",reason="(\w*)"\} (\d+)/gm)]
          .filter((m) => m[1] === side && (reason === undefined || m[2] === reason))
          .reduce((n, m) => n + Number(m[3]), 0);
      return { replica: sum('replica'), primary: sum('primary'), sum };
    };
    /** One GET, and which side served the reads it made. */
    const get = async (url: string) => {
      const before = await served();
      const res = await app.inject({ url, headers });
      expect(res.statusCode, res.body).toBe(200);
      const after = await served();
      const by =
        after.replica > before.replica ? 'replica' : after.primary > before.primary ? 'primary' : 'none';
      const reasons = ['recent_change', 'lagging', 'unreachable', 'replica_error', 'unchecked'].filter(
        (r) => after.sum('primary', r) > before.sum('primary', r),
      );
      return { body: res.json(), by, reasons };
    };
    const start = async (key: string) => {
      const res = await app.inject({
        method: 'POST',
        url: runs,
        headers,
        payload: { type: 'test.task', inputs: { key } },
      });
      expect(res.statusCode, res.body).toBe(202);
      return res.json().run.id as string;
    };
    const ids = (body: { data: { id: string }[] }) => body.data.map((r) => r.id);
    const onReplica = new pg.Client({ connectionString: replica.url });
    onReplica.on('error', () => {});
    await onReplica.connect();
    let replicaClientOpen = true;
    cleanups.push(() => (replicaClientOpen ? onReplica.end() : undefined));
    const onPrimary = new pg.Client({ connectionString: primary.url });
    await onPrimary.connect();
    cleanups.push(() => onPrimary.end());

    // A run started on the primary shows, completed, in the list as served by the replica (while
    // it changes, its tenant's reads go to the primary: see below).
    const first = await start('first');
    await until('the first run, completed, in a list served by the replica', async () => {
      const list = await get(runs);
      const run = list.body.data.find((r: { id: string }) => r.id === first);
      return list.by === 'replica' && run?.status === 'completed' ? true : undefined;
    });
    const sessions = await onReplica.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where application_name = 'opsledger'`,
    );
    expect(sessions.rows[0]!.n).toBeGreaterThan(0);
    const stats = await get(`${runs}/stats`);
    expect(stats.by).toBe('replica');
    expect(stats.body.data[0]).toMatchObject({ type: 'test.task', total: 1 });
    const firstDetail = await get(`${runs}/${first}`);
    expect(firstDetail.by).toBe('replica');
    expect(firstDetail.body).toMatchObject({ id: first, status: 'completed' });

    // Proof that the list comes from the replica: with replay paused, a change the server has not
    // heard of (written with triggers off, so no notice goes out) is on the primary and not in the list.
    await onReplica.query('select pg_wal_replay_pause()');
    await onPrimary.query(
      `set session_replication_role = replica;
       update operation_runs set initiator_name = 'renamed on the primary' where id = '${first}';
       reset session_replication_role`,
    );
    const stale = await get(runs);
    expect(stale.by).toBe('replica');
    expect(stale.body.data.find((r: { id: string }) => r.id === first).initiator.name).not.toBe(
      'renamed on the primary',
    );

    // Reading one's writes: a run started now shows at once (its tenant's reads go to the primary
    // until the replica has replayed the change), in the detail and in the list.
    const second = await start('second');
    const detail = await get(`${runs}/${second}`);
    expect(detail.by).toBe('primary');
    expect(detail.reasons).toContain('recent_change');
    expect(ids((await get(runs)).body)).toContain(second);

    // Replay still paused: once the replica may be further behind than the bound, every read goes
    // to the primary, and the list shows the primary's state.
    const lagging = await until(
      'reads to go to the primary because the replica lags',
      async () => {
        const list = await get(runs);
        return list.reasons.includes('lagging') ? list : undefined;
      },
      (maxLagSeconds + 30) * 1000,
    );
    expect(lagging.body.data.find((r: { id: string }) => r.id === first).initiator.name).toBe(
      'renamed on the primary',
    );

    // Replay resumed: the replica catches up and serves again, with both changes.
    await onReplica.query('select pg_wal_replay_resume()');
    const resumedAt = Date.now();
    const caughtUp = await until('the replica to serve again after resuming replay', async () => {
      const list = await get(runs);
      return list.by === 'replica' ? list : undefined;
    });
    const resumedMs = Date.now() - resumedAt;
    expect(ids(caughtUp.body)).toEqual(expect.arrayContaining([first, second]));
    expect(caughtUp.body.data.find((r: { id: string }) => r.id === first).initiator.name).toBe(
      'renamed on the primary',
    );

    // The replica stops like a crash: reads stay correct, from the primary.
    replicaClientOpen = false;
    await onReplica.end().catch(() => {});
    replica.stop();
    const down = await get(quietRuns);
    expect(down.by).toBe('primary');
    expect(down.reasons.some((r) => ['unreachable', 'replica_error'].includes(r))).toBe(true);
    expect(down.body.data).toEqual([]);
    const third = await start('third');
    expect(ids((await get(runs)).body)).toContain(third);
    const downStats = await get(`${runs}/stats`);
    expect(downStats.by).toBe('primary');
    expect(downStats.body.data[0]).toMatchObject({ type: 'test.task', total: 3 });
    expect((await get(`${runs}/${third}`)).body.id).toBe(third);

    // Back again: the replica replays what it missed and serves the list once more.
    replica.start();
    const restartedAt = Date.now();
    const back = await until(
      'the replica to serve again after it restarted',
      async () => {
        const list = await get(runs);
        return list.by === 'replica' ? list : undefined;
      },
      60_000,
    );
    const restartedMs = Date.now() - restartedAt;
    expect(ids(back.body)).toEqual(expect.arrayContaining([first, second, third]));
    expect((await get(quietRuns)).by).toBe('replica');
    console.log(
      `[read-replica] the replica served again ${resumedMs} ms after replay resumed, ${restartedMs} ms after it was up again`,
    );
    console.log(
      `[read-replica] served ${JSON.stringify(ledger.database.readReplica?.counts().map((c) => [c.servedBy, c.reason, c.n]))}`,
    );
  }, 150_000);
});
