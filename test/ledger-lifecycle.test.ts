import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
let ledger: TestLedger;
let tenant: string;

const start = (inputs: Record<string, unknown>, t = tenant) =>
  ledger.service.start({
    tenantId: t,
    type: 'test.task',
    inputs,
    initiator: { kind: 'user', userId: '0190a0b0-0000-7000-8000-000000000001', name: 'Ada' },
  });
const done = (r: { status: string }) => r.status === 'completed';

beforeAll(async () => {
  // One run of a tenant at a time, so a blocking run keeps the tenant's next run queued.
  ledger = await startTestLedger({ definitions: [testTaskType(log)], env: { TENANT_CONCURRENCY: '1' } });
  tenant = await ledger.createTenant('Fabrikam');
});
afterAll(async () => {
  await ledger?.stop();
});

describe('run lifecycle through the real queue and worker', () => {
  it('a handler that throws twice then succeeds gives one run, 3 attempts, succeeded', async () => {
    const { run } = await start({ key: 'flaky', failTimes: 2 });
    const final = await ledger.waitForRun(tenant, run.id, done);
    expect(final).toMatchObject({
      outcome: 'succeeded',
      attempts: 3,
      summary_counts: { processed: 2, failed: 0 },
    });
    expect(final.started_at).not.toBeNull();
    const lines = ledger.logs.filter((l) => l.msg === 'operation attempt finished' && l.runId === run.id);
    expect(lines.map((l) => [l.attempt, l.outcome])).toEqual([
      [1, 'retrying'],
      [2, 'retrying'],
      [3, 'succeeded'],
    ]);
    for (const l of lines) {
      expect(l).toMatchObject({ tenantId: tenant, type: 'test.task' });
      expect(typeof l.durationMs).toBe('number');
    }
  });

  it('a handler that always throws ends failed with a redacted failure entry', async () => {
    const secret = 'Sup3rS3cretValue!';
    const { run } = await start({
      key: 'doomed',
      failTimes: -1,
      errorMessage: `token request failed: client_secret=${secret} Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2ln`,
    });
    const final = await ledger.waitForRun(tenant, run.id, done);
    expect(final).toMatchObject({ outcome: 'failed', attempts: 3 });
    expect(final.failure_summary).toHaveLength(1);
    expect(final.failure_summary[0]!.code).toBe('handler_error');
    const text =
      JSON.stringify(final) + ledger.logText() + JSON.stringify(await ledger.service.get(tenant, run.id));
    expect(text).not.toContain(secret);
    expect(text).not.toContain('c2lnbmF0dXJlc2ln');
    expect(final.failure_summary[0]!.message).toContain('client_secret=');
  });

  it('a partial result completes partially_succeeded with its failures', async () => {
    const { run } = await start({ key: 'partial', partial: true });
    const final = await ledger.waitForRun(tenant, run.id, done);
    expect(final).toMatchObject({
      outcome: 'partially_succeeded',
      attempts: 1,
      summary_counts: { processed: 1, failed: 1 },
      failure_summary: [{ code: 'item_failed', message: 'one item failed' }],
    });
  });

  it('cancel of a running run: the handler sees the abort and the run completes cancelled', async () => {
    const { run } = await start({ key: 'long', waitForAbort: true });
    await ledger.waitForRun(tenant, run.id, (r) => r.status === 'running');
    const cancelled = await ledger.service.cancel(tenant, run.id);
    expect(cancelled.status).toBe('running');
    const final = await ledger.waitForRun(tenant, run.id, done);
    expect(final.outcome).toBe('cancelled');
    expect(log.aborted).toContain(run.id);
    await expect(ledger.service.cancel(tenant, run.id)).rejects.toMatchObject({ name: 'ConflictError' });
  });

  it('cancel of a queued run: its handler never runs', async () => {
    const blocker = await start({ key: 'blocker', waitForAbort: true });
    await ledger.waitForRun(tenant, blocker.run.id, (r) => r.status === 'running');
    // The tenant's only slot is taken, so this one stays queued.
    const queued = await start({ key: 'never' });
    expect((await ledger.service.getRow(tenant, queued.run.id)).status).toBe('queued');
    const cancelled = await ledger.service.cancel(tenant, queued.run.id);
    expect(cancelled).toMatchObject({ status: 'completed', outcome: 'cancelled' });
    await ledger.service.cancel(tenant, blocker.run.id);
    await ledger.waitForRun(tenant, blocker.run.id, done);
    // Give the freed slot time to pick up anything that was (wrongly) still queued.
    const probe = await start({ key: 'probe' });
    await ledger.waitForRun(tenant, probe.run.id, done);
    expect(log.started).not.toContain(queued.run.id);
    expect((await ledger.service.getRow(tenant, queued.run.id)).attempts).toBe(0);
  });

  it('retry of a failed run starts a new run that points at it; retry of an active run is a conflict', async () => {
    const { run } = await start({ key: 'retry-me', failTimes: -1 });
    await ledger.waitForRun(tenant, run.id, done);
    const again = await ledger.service.retry(tenant, run.id, { kind: 'api', name: 'token' });
    expect(again).toMatchObject({ retryOf: run.id, status: 'queued', initiator: { kind: 'api' } });
    expect(again.id).not.toBe(run.id);
    const active = await start({ key: 'active', waitForAbort: true });
    await expect(ledger.service.retry(tenant, active.run.id, { kind: 'system' })).rejects.toMatchObject({
      name: 'ConflictError',
    });
    await ledger.service.cancel(tenant, active.run.id);
    await ledger.waitForRun(tenant, again.id, done);
  });

  it('a succeeded run cannot be retried and unknown ids are not found', async () => {
    const { run } = await start({ key: 'fine' });
    await ledger.waitForRun(tenant, run.id, done);
    await expect(ledger.service.retry(tenant, run.id, { kind: 'system' })).rejects.toMatchObject({
      name: 'ConflictError',
    });
    await expect(ledger.service.get(tenant, '0190a0b0-0000-7000-8000-0000000000ff')).rejects.toMatchObject({
      name: 'NotFoundError',
    });
    await expect(ledger.service.get(tenant, 'not-a-uuid')).rejects.toMatchObject({ name: 'NotFoundError' });
    const other = await ledger.createTenant('Other');
    await expect(ledger.service.get(other, run.id)).rejects.toMatchObject({ name: 'NotFoundError' });
  });
});
