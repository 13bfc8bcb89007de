import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reapStaleRuns } from '../src/worker/maintenance.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';
import { testTaskType } from './helpers/test-types.ts';

let ledger: TestLedger;
let tenant: string;

beforeAll(async () => {
  // No worker: runs are moved by hand so the reaper's decisions can be checked one by one.
  ledger = await startTestLedger({
    definitions: [
      testTaskType({ started: [], aborted: [] }),
      testTaskType({ started: [], aborted: [] }, { name: 'test.once', label: 'Once', maxAttempts: 1 }),
    ],
    worker: false,
  });
  tenant = await ledger.createTenant('Reaped');
});
afterAll(async () => {
  await ledger?.stop();
});

const reaper = (nowOffsetSeconds: number) => ({
  database: ledger.database,
  catalog: ledger.catalog,
  queue: ledger.queue,
  logger: ledger.logger,
  staleRunSeconds: 60,
  now: () => new Date(Date.now() + nowOffsetSeconds * 1000),
});

async function claimed(key: string, type = 'test.task') {
  const { run } = await ledger.service.start({
    tenantId: tenant,
    type,
    inputs: { key },
    initiator: { kind: 'system' },
  });
  const row = await ledger.service.getRow(tenant, run.id);
  expect(await ledger.service.markRunning(tenant, run.id, row.job_id!, type)).not.toBeNull();
  return row;
}

const jobState = async (jobId: string) =>
  (
    await sql<{ state: string }>`select state::text from pgboss.job where id = ${jobId}`.execute(
      ledger.database.db,
    )
  ).rows[0]?.state ?? null;

describe('reaper', () => {
  it('leaves runs with a fresh heartbeat alone', async () => {
    const row = await claimed('fresh');
    const report = await reapStaleRuns(reaper(0));
    expect(report).toEqual({ retried: 0, failed: 0, requeuedOrphans: 0, failedOrphans: 0 });
    expect((await ledger.service.getRow(tenant, row.id)).status).toBe('running');
    await ledger.service.complete(tenant, row.id, row.job_id, 'test.task', { outcome: 'succeeded' });
  });

  it('retries a stale run under a new job, and fails one with no attempts left as worker_lost; the old worker is locked out', async () => {
    const retry = await claimed('stale-retry');
    const lost = await claimed('stale-lost', 'test.once');
    // Two reapers at once (several workers): each stale run is handled exactly once.
    const [a, b] = await Promise.all([reapStaleRuns(reaper(120)), reapStaleRuns(reaper(120))]);
    expect(a.retried + b.retried).toBe(1);
    expect(a.failed + b.failed).toBe(1);
    const r1 = await ledger.service.getRow(tenant, retry.id);
    expect(r1).toMatchObject({ status: 'queued', attempts: 1, failure_summary: [{ code: 'worker_lost' }] });
    expect(r1.job_id).not.toBe(retry.job_id);
    expect(await jobState(r1.job_id!)).toBe('created');
    expect(await jobState(retry.job_id!)).toBe('cancelled');
    // The presumed-dead worker comes back: it can no longer touch the run.
    expect(await ledger.service.heartbeat(tenant, retry.id, retry.job_id!)).toEqual({
      alive: false,
      cancelRequested: false,
    });
    expect(
      await ledger.service.complete(tenant, retry.id, retry.job_id!, 'test.task', { outcome: 'succeeded' }),
    ).toBeNull();
    const r2 = await ledger.service.getRow(tenant, lost.id);
    expect(r2).toMatchObject({
      status: 'completed',
      outcome: 'failed',
      failure_summary: [{ code: 'worker_lost' }],
    });
  });

  it('gives a queued run whose job vanished a new job, or fails it when no attempt is left', async () => {
    const { run } = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'orphan' },
      initiator: { kind: 'system' },
    });
    const before = await ledger.service.getRow(tenant, run.id);
    await sql`delete from pgboss.job where id = ${before.job_id}`.execute(ledger.database.db);
    const report = await reapStaleRuns(reaper(120));
    expect(report.requeuedOrphans).toBe(1);
    const after = await ledger.service.getRow(tenant, run.id);
    expect(after.status).toBe('queued');
    expect(await jobState(after.job_id!)).toBe('created');
  });
});
