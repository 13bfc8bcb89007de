import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneRuns } from '../src/worker/maintenance.ts';
import { RunWorker } from '../src/worker/worker.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
let ledger: TestLedger;

beforeAll(async () => {
  // No worker yet: the flood is queued first, then a worker starts on it.
  ledger = await startTestLedger({
    definitions: [testTaskType(log)],
    worker: false,
    env: { TENANT_CONCURRENCY: '4' },
  });
});
afterAll(async () => {
  await ledger?.stop();
});

describe('fairness', () => {
  it("one tenant's 500 queued runs do not delay another tenant's single run", async () => {
    const a = await ledger.createTenant('Flood');
    const b = await ledger.createTenant('Quiet');
    const aRuns: string[] = [];
    for (let i = 0; i < 500; i++) {
      const { run } = await ledger.service.start({
        tenantId: a,
        type: 'test.task',
        inputs: { key: `a${i}`, sleepMs: 30 },
        initiator: { kind: 'system' },
      });
      aRuns.push(run.id);
    }
    const { run: bRun } = await ledger.service.start({
      tenantId: b,
      type: 'test.task',
      inputs: { key: 'b', sleepMs: 30 },
      initiator: { kind: 'system' },
    });
    const worker = new RunWorker({
      boss: ledger.boss,
      database: ledger.database,
      service: ledger.service,
      catalog: ledger.catalog,
      queue: ledger.queue,
      logger: ledger.logger,
      tenantConcurrency: 4,
      staleRunSeconds: 120,
      retentionDays: 90,
      feed: ledger.feed,
    });
    await worker.start();
    try {
      const bDone = await ledger.waitForRun(b, bRun.id, (r) => r.status === 'completed', 30_000);
      const aDone = await ledger.database.db
        .selectFrom('operation_runs')
        .select(['completed_at'])
        .where('tenant_id', '=', a)
        .where('status', '=', 'completed')
        .orderBy('completed_at')
        .execute();
      const fiftieth = aDone[49]?.completed_at;
      // Either A has not even finished 50 runs yet, or B finished before A's 50th.
      if (fiftieth)
        expect(new Date(bDone.completed_at!).getTime()).toBeLessThan(new Date(fiftieth).getTime());
      expect(bDone.outcome).toBe('succeeded');
      // And A never had more than 4 runs in flight: at most 4 of its runs overlap at any instant.
      const spans = await ledger.database.db
        .selectFrom('operation_runs')
        .select(['started_at', 'completed_at'])
        .where('tenant_id', '=', a)
        .where('status', '=', 'completed')
        .execute();
      const events = spans.flatMap((s) => [
        [new Date(s.started_at!).getTime(), 1],
        [new Date(s.completed_at!).getTime(), -1],
      ]) as [number, number][];
      events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      let inFlight = 0;
      let peak = 0;
      for (const [, d] of events) {
        inFlight += d;
        peak = Math.max(peak, inFlight);
      }
      expect(peak).toBeLessThanOrEqual(4);
      console.log(
        `[fairness] B completed after A had completed ${aDone.length} runs; A peak in flight ${peak}`,
      );
    } finally {
      await worker.stop();
    }
  });
});

describe('pruning', () => {
  // The pruning logic on a few thousand rows; its volume (200,000 and more) is measured by `npm run bench`.
  it('prunes 5,000 expired runs in small batches and keeps every active and recent run', async () => {
    const t = await ledger.createTenant('History');
    const N = 5_000;
    const db = ledger.database.db;
    await sql`
      insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind,
                                  created_at, started_at, completed_at, max_attempts)
      select gen_random_uuid(), ${t}, 'test.task', 'completed', 'succeeded',
             encode(sha256(convert_to('old' || g, 'UTF8')), 'hex'), 'schedule',
             now() - interval '120 days', now() - interval '120 days', now() - interval '100 days' - g * interval '1 second', 1
      from generate_series(1, ${N}) g`.execute(db);
    // Kept: recent completed runs, and active runs however old.
    await sql`
      insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind,
                                  created_at, started_at, completed_at, max_attempts)
      select gen_random_uuid(), ${t}, 'test.task', 'completed', 'failed',
             encode(sha256(convert_to('recent' || g, 'UTF8')), 'hex'), 'schedule',
             now() - interval '10 days', now() - interval '10 days', now() - interval '89 days', 1
      from generate_series(1, 500) g`.execute(db);
    await sql`
      insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind, created_at, max_attempts)
      select gen_random_uuid(), ${t}, 'test.task', s, 'pending',
             encode(sha256(convert_to('active' || g || s, 'UTF8')), 'hex'), 'schedule', now() - interval '200 days', 1
      from generate_series(1, 50) g, (values ('queued'), ('running')) v(s)`.execute(db);

    const report = await pruneRuns({
      database: ledger.database,
      retentionDays: 90,
      batchSize: 500,
      logger: ledger.logger,
    });
    expect(report.deleted).toBe(N);
    expect(report.batches).toBe(N / 500 + 1);
    const left = await sql<{ status: string; outcome: string; n: number }>`
      select status, outcome, count(*)::int as n from operation_runs where tenant_id = ${t}
      group by 1, 2 order by 1, 2`.execute(db);
    expect(left.rows).toEqual([
      { status: 'completed', outcome: 'failed', n: 500 },
      { status: 'queued', outcome: 'pending', n: 50 },
      { status: 'running', outcome: 'pending', n: 50 },
    ]);
    console.log(
      `[prune] ${report.deleted} runs in ${report.batches} batches; slowest batch ${Math.round(report.maxBatchMs)} ms`,
    );
  });
});
