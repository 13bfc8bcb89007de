import { sql } from 'kysely';
import Type from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperationTypeDefinition } from '../src/ledger/catalog.ts';
import type { RunChange } from '../src/ledger/change-feed.ts';
import { AttemptTimeoutError } from '../src/ledger/run-errors.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';

type Inputs = { key: string; honour: boolean; succeedFrom: number };

const seen: { runId: string; attempt: number; reason: string }[] = [];
// Handlers that ignore their signal wait here until the test lets them go.
let release: () => void = () => {};
const gate = new Promise<void>((r) => {
  release = r;
});

const slowType: OperationTypeDefinition = {
  name: 'test.slow',
  label: 'Slow task',
  inputSchema: Type.Object(
    {
      key: Type.String(),
      honour: Type.Boolean(),
      succeedFrom: Type.Integer({ default: 0, minimum: 0 }),
    },
    { additionalProperties: false },
  ),
  identityKeys: ['key'],
  countKeys: ['processed'],
  timeoutSeconds: 1,
  maxAttempts: 2,
  retryDelaySeconds: 0,
  async handler({ inputs, signal, run, progress }) {
    const { honour, succeedFrom } = inputs as Inputs;
    if (succeedFrom > 0 && run.attempt >= succeedFrom) return { counts: { processed: 1 } };
    if (honour) {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      seen.push({ runId: run.id, attempt: run.attempt, reason: (signal.reason as Error).name });
      throw signal.reason;
    }
    // Ignores its signal: carries on past the limit and reports as if nothing happened.
    await gate;
    seen.push({
      runId: run.id,
      attempt: run.attempt,
      reason: signal.aborted ? (signal.reason as Error).name : '',
    });
    await progress({ processed: 99 });
    return { counts: { processed: 99 } };
  },
};

let ledger: TestLedger;
let tenant: string;
const changes: RunChange[] = [];

beforeAll(async () => {
  ledger = await startTestLedger({ definitions: [slowType] });
  tenant = await ledger.createTenant('Slow');
  await ledger.feed.subscribe((c) => changes.push(c));
});
afterAll(async () => {
  release();
  await ledger?.stop();
});

const start = async (inputs: Partial<Inputs>) =>
  (
    await ledger.service.start({
      tenantId: tenant,
      type: 'test.slow',
      inputs: { honour: true, ...inputs },
      initiator: { kind: 'system' },
    })
  ).run.id;

/** The run's states as the change feed delivered them. */
const history = (runId: string) =>
  changes
    .filter((c) => c.kind === 'run' && c.run.id === runId)
    .map((c) => {
      const r = (c as Extract<RunChange, { kind: 'run' }>).run;
      return `${r.status}:${r.attempts}:${r.outcome}:${r.failure_summary.map((f) => f.code).join(',')}`;
    });

/** One queue job per attempt, none retried by the queue itself. */
const jobsOf = async (runId: string) =>
  (
    await sql<{ state: string; retry_count: number }>`
      select state::text, retry_count from pgboss.job
      where name = 'opsledger-runs' and data->>'runId' = ${runId}`.execute(ledger.database.db)
  ).rows;

const attemptLogs = (runId: string) =>
  ledger.logs
    .filter((l) => l.msg === 'operation attempt finished' && l.runId === runId)
    .map((l) => l.outcome);

describe('attempt timeouts, decided by the ledger', () => {
  it('a handler that honours its signal past timeoutSeconds: each attempt is recorded attempt_timeout, retried, then failed', async () => {
    const id = await start({ key: 'honours' });
    const done = await ledger.waitForRun(tenant, id, (r) => r.status === 'completed', 30_000);
    expect(done).toMatchObject({
      outcome: 'failed',
      attempts: 2,
      failure_summary: [{ code: 'attempt_timeout', message: 'attempt 2 ran past the 1s limit of test.slow' }],
    });
    // The handler saw its own reason, never a shutdown.
    expect(seen.filter((s) => s.runId === id)).toEqual([
      { runId: id, attempt: 1, reason: AttemptTimeoutError.name },
      { runId: id, attempt: 2, reason: AttemptTimeoutError.name },
    ]);
    expect(history(id)).toEqual([
      'queued:0:pending:',
      'running:1:pending:',
      'queued:1:pending:attempt_timeout',
      'running:2:pending:attempt_timeout',
      'completed:2:failed:attempt_timeout',
    ]);
    expect(attemptLogs(id)).toEqual(['timeout_retrying', 'timeout_failed']);
    const jobs = await jobsOf(id);
    expect(jobs).toHaveLength(2);
    expect(jobs.every((j) => j.retry_count === 0)).toBe(true);
    expect(ledger.logText()).not.toContain('worker_shutdown');
  });

  it('a handler that ignores its signal: the run is retried and failed at the limits without waiting for it, and its late writes are refused', async () => {
    const id = await start({ key: 'ignores', honour: false });
    // Both attempts are still running in their handlers when the ledger has already failed the run.
    const done = await ledger.waitForRun(tenant, id, (r) => r.status === 'completed', 30_000);
    expect(done).toMatchObject({
      outcome: 'failed',
      attempts: 2,
      failure_summary: [{ code: 'attempt_timeout' }],
    });
    expect(seen.filter((s) => s.runId === id)).toEqual([]);
    expect(history(id)).toEqual([
      'queued:0:pending:',
      'running:1:pending:',
      'queued:1:pending:attempt_timeout',
      'running:2:pending:attempt_timeout',
      'completed:2:failed:attempt_timeout',
    ]);
    release();
    // The abandoned handlers return; what they report changes nothing.
    const deadline = Date.now() + 30_000;
    while (seen.filter((s) => s.runId === id).length < 2 || attemptLogs(id).length < 2) {
      if (Date.now() > deadline) throw new Error('the abandoned handlers did not return');
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen.filter((s) => s.runId === id).map((s) => s.reason)).toEqual([
      AttemptTimeoutError.name,
      AttemptTimeoutError.name,
    ]);
    const after = await ledger.service.getRow(tenant, id);
    expect(after).toMatchObject({ outcome: 'failed', attempts: 2, summary_counts: { processed: 0 } });
    expect(history(id)).toHaveLength(5);
    const jobs = await jobsOf(id);
    expect(jobs).toHaveLength(2);
    expect(jobs.every((j) => j.retry_count === 0)).toBe(true);
    expect(ledger.logText()).not.toContain('worker_shutdown');
  });

  it('an attempt that times out is retried, and a retry that finishes in time succeeds', async () => {
    const id = await start({ key: 'second-time', succeedFrom: 2 });
    const done = await ledger.waitForRun(tenant, id, (r) => r.status === 'completed', 30_000);
    expect(done).toMatchObject({ outcome: 'succeeded', attempts: 2, summary_counts: { processed: 1 } });
    expect(history(id)).toContain('queued:1:pending:attempt_timeout');
  });
});
