import { type ChildProcess, spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import { openStream, type Stream, until } from './helpers/sse.ts';
import { onPostgres } from './helpers/target.ts';
import { testTaskType } from './helpers/test-types.ts';

// Heartbeats every 2 s, so a run that waits shows some of them.
const STALE = '8';
let h: ApiHarness;
let base: string;
let tenantA: string;
let tenantB: string;
let alice: TestUser;
let carol: TestUser;
let bob: TestUser;
let child: ChildProcess | null = null;

beforeAll(async () => {
  // On PostgreSQL the runs are executed by a separate worker process, so every change the streams
  // see was made by another process; the embedded database belongs to one process, which runs
  // its own worker.
  h = await startApiHarness({
    definitions: [testTaskType({ started: [], aborted: [] })],
    worker: !onPostgres(),
    env: { STALE_RUN_SECONDS: STALE },
    http: { streamHeartbeatMs: 5000, streamRecheckMs: 60_000 },
  });
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  tenantA = await h.ledger.createTenant('A');
  tenantB = await h.ledger.createTenant('B');
  alice = await h.user('alice', { [tenantA]: 'operator' });
  carol = await h.user('carol', { [tenantA]: 'viewer' });
  bob = await h.user('bob', { [tenantB]: 'operator' });
  if (onPostgres()) {
    const worker = spawn(process.execPath, ['test/fixtures/feed-worker.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: h.ledger.testDb.url!,
        SECRET_KEY: TEST_SECRET_KEY,
        STALE_RUN_SECONDS: STALE,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = worker;
    let stderr = '';
    worker.stderr!.on('data', (d) => {
      stderr += d;
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: worker.stdout! }).once('line', () => resolve());
      worker.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${stderr}`)));
    });
  }
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await h?.stop();
});

const stream = async (tenantId: string, user: TestUser): Promise<Stream> => {
  const s = openStream(`${base}/api/v1/tenants/${tenantId}/operations/stream`, user.token);
  expect((await s.ready).status).toBe(200);
  await until(() => s.received.some((m) => 'comment' in m && m.comment === 'connected'));
  return s;
};

const start = async (tenantId: string, user: TestUser, inputs: Record<string, unknown>) => {
  const res = await fetch(`${base}/api/v1/tenants/${tenantId}/operations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'test.task', inputs }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { run: { id: string } }).run.id;
};

/** Columns of a finished run inserted by SQL (an import), for `count` rows in one statement. */
const insertCompleted = (tenantId: string, count: number, marker: string) =>
  sql`
    insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind,
      initiator_name, context, summary_counts, failure_summary, attempts, max_attempts, created_at,
      started_at, completed_at)
    select gen_random_uuid(), ${tenantId}, 'test.task', 'completed', 'succeeded',
      encode(sha256((${marker} || g)::bytea), 'hex'), 'system', ${marker}, '{}', '{}', '[]', 1, 1,
      now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
    from generate_series(1, ${count}::int) g
    returning id`.execute(h.ledger.database.db);

/**
 * Changes reach a stream in commit order, so once a change committed after everything else has
 * arrived, so has everything before it: then the streams can be counted exactly.
 */
const flush = async (tenantId: string, streams: Stream[]) => {
  const marker = `flush-${uuidv7()}`;
  const { rows } = await insertCompleted(tenantId, 1, marker);
  const id = (rows[0] as { id: string }).id;
  await until(() => streams.every((s) => s.events('run').some((e) => e.data.id === id)), 30_000, marker);
  return id;
};

const step = (run: any) =>
  `${run.status}:${run.attempts}:${run.summaryCounts.processed ?? '-'}:${run.outcome}`;

describe('one change feed for the streams', () => {
  it('every change of every run reaches each subscriber exactly once, in order, whichever process made it', async () => {
    const a1 = await stream(tenantA, alice);
    const a2 = await stream(tenantA, carol);
    const b = await stream(tenantB, bob);
    const streams = [a1, a2, b];
    try {
      const plain = await Promise.all(
        Array.from({ length: 6 }, (_, i) => start(tenantA, alice, { key: `p${i}` })),
      );
      const retried = await Promise.all(
        Array.from({ length: 3 }, (_, i) => start(tenantA, alice, { key: `r${i}`, failTimes: 1 })),
      );
      const waiting = await start(tenantA, alice, { key: 'waits', waitForAbort: true });
      // The waiting run heartbeats (rows change) without changing anything a reader sees.
      await until(
        async () => {
          const row = await h.ledger.service.getRow(tenantA, waiting);
          return (
            row.status === 'running' &&
            row.last_heartbeat_at !== null &&
            new Date(row.last_heartbeat_at).getTime() > new Date(row.started_at!).getTime()
          );
        },
        30_000,
        'a heartbeat of the waiting run',
      );
      const cancel = await fetch(`${base}/api/v1/tenants/${tenantA}/operations/${waiting}/cancel`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.token}` },
      });
      expect(cancel.status).toBe(200);
      for (const id of [...plain, ...retried, waiting]) {
        await h.ledger.waitForRun(tenantA, id, (r) => r.status === 'completed', 30_000);
      }
      await flush(tenantA, [a1, a2]);
      await flush(tenantB, [b]);

      for (const s of [a1, a2]) {
        const byRun = new Map<string, string[]>();
        for (const e of s.events('run'))
          byRun.set(e.data.id, [...(byRun.get(e.data.id) ?? []), step(e.data)]);
        for (const id of plain) {
          expect(byRun.get(id)).toEqual([
            'queued:0:0:pending',
            'running:1:0:pending',
            'running:1:1:pending',
            'completed:1:2:succeeded',
          ]);
        }
        for (const id of retried) {
          expect(byRun.get(id)).toEqual([
            'queued:0:0:pending',
            'running:1:0:pending',
            'queued:1:0:pending',
            'running:2:0:pending',
            'running:2:1:pending',
            'completed:2:2:succeeded',
          ]);
        }
        // Started, claimed, asked to stop, stopped: heartbeats in between are not events.
        expect(byRun.get(waiting)).toEqual([
          'queued:0:0:pending',
          'running:1:0:pending',
          'running:1:0:pending',
          'completed:1:0:cancelled',
        ]);
        expect(s.events('reload')).toEqual([]);
      }
      // Nothing of A reaches B: B's stream holds only B's own marker.
      expect(b.events('run').every((e) => e.data.tenantId === tenantB)).toBe(true);
      expect(b.events('run')).toHaveLength(1);
    } finally {
      for (const s of streams) s.close();
    }
  });

  it('a statement that changes many runs at once sends one reload event to the tenant; a few rows arrive as run events', async () => {
    const a = await stream(tenantA, alice);
    const b = await stream(tenantB, bob);
    try {
      // An import of 150 runs in one statement, then 150 runs waiting in one statement (dated ahead
      // so the reaper leaves them alone), changed in one statement, and pruned in one statement.
      const imported = await insertCompleted(tenantA, 150, 'import');
      await sql`
        insert into operation_runs (id, tenant_id, type, run_identity_hash, initiator_kind, context,
          summary_counts, failure_summary, max_attempts, created_at)
        select gen_random_uuid(), ${tenantA}, 'test.task', encode(sha256(('bulk' || g)::bytea), 'hex'),
          'system', '{}', '{}', '[]', 1, now() + interval '1 hour'
        from generate_series(1, 150) g`.execute(h.ledger.database.db);
      await sql`
        update operation_runs set summary_counts = '{"processed": 7}'
        where tenant_id = ${tenantA} and status = 'queued' and created_at > now()`.execute(
        h.ledger.database.db,
      );
      await sql`delete from operation_runs where tenant_id = ${tenantA} and created_at > now()`.execute(
        h.ledger.database.db,
      );
      // A few rows in one statement are announced one by one.
      const few = await insertCompleted(tenantA, 3, 'few');
      await flush(tenantA, [a]);
      await flush(tenantB, [b]);

      // One per statement: the import, the insert, the update, the delete.
      expect(a.events('reload').map((e) => e.data)).toEqual(Array(4).fill({ tenantId: tenantA }));
      const ids = new Set(a.events('run').map((e) => e.data.id));
      expect(imported.rows.some((r) => ids.has((r as { id: string }).id))).toBe(false);
      for (const r of few.rows) expect(ids.has((r as { id: string }).id)).toBe(true);
      expect(a.events('run')).toHaveLength(4); // the three, and the marker
      expect(b.events('reload')).toEqual([]);
      expect(b.events('run')).toHaveLength(1);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a run too large for a database notice is read back and still sent once per change', async () => {
    const a = await stream(tenantA, alice);
    try {
      const big = 'x'.repeat(12_000);
      const { rows } = await sql<{ id: string }>`
        insert into operation_runs (id, tenant_id, type, run_identity_hash, initiator_kind, context,
          summary_counts, failure_summary, max_attempts, created_at)
        values (gen_random_uuid(), ${tenantA}, 'test.task', encode(sha256('big'::bytea), 'hex'), 'system',
          ${JSON.stringify({ note: big })}::jsonb, '{}', '[]', 1, now() + interval '1 hour')
        returning id`.execute(h.ledger.database.db);
      const id = rows[0]!.id;
      const mine = () => a.events('run').filter((e) => e.data.id === id);
      await until(() => mine().length === 1, 30_000, 'the inserted run');
      await sql`update operation_runs set summary_counts = '{"processed": 1}' where id = ${id}`.execute(
        h.ledger.database.db,
      );
      await until(() => mine().length === 2, 30_000, 'the updated run');
      // Two changes committed together: by the time the first is read back the run is already in
      // its second state, which is sent once (the first is superseded, never sent as the second).
      await h.ledger.database.db.transaction().execute(async (trx) => {
        await sql`update operation_runs set summary_counts = '{"processed": 2}' where id = ${id}`.execute(
          trx,
        );
        await sql`update operation_runs set summary_counts = '{"processed": 3}' where id = ${id}`.execute(
          trx,
        );
      });
      await until(
        () => mine().some((e) => e.data.summaryCounts.processed === 3),
        30_000,
        'the second change',
      );
      await sql`delete from operation_runs where id = ${id}`.execute(h.ledger.database.db);
      await flush(tenantA, [a]);
      expect(mine().map((e) => [e.data.context.note.length, e.data.summaryCounts.processed ?? 0])).toEqual([
        [12_000, 0],
        [12_000, 1],
        [12_000, 3],
      ]);
      expect(a.events('reload')).toHaveLength(1);
    } finally {
      a.close();
    }
  });
});
