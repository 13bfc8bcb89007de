import type { OperationCatalog } from '../ledger/catalog.ts';
import type { RunEventLog } from '../ledger/event-log-service.ts';
import type { RunJobData } from '../ledger/queue-port.ts';
import {
  AttemptFailedError,
  AttemptTimeoutError,
  LeaseLostError,
  RunCancelledError,
  WorkerShutdownError,
} from '../ledger/run-errors.ts';
import type { OperationRunService } from '../ledger/service.ts';
import { type FailureEntry, toFailureEntry } from '../shared/failures.ts';
import type { Logger } from '../shared/logger.ts';
import { redact } from '../shared/redact.ts';
import { NO_RUN_LOG } from '../shared/run-log.ts';

export { AttemptFailedError, AttemptTimeoutError, LeaseLostError, RunCancelledError, WorkerShutdownError };

export type ActiveRun = { runId: string; tenantId: string; controller: AbortController };

export type TrackDeps = {
  service: OperationRunService;
  catalog: OperationCatalog;
  logger: Logger;
  heartbeatMs: number;
  /** Runs in flight in this worker, so cancellation notices and shutdown can reach them. */
  active: Map<string, ActiveRun>;
  /** The per-run event log; without it attempts log nothing there. */
  events?: RunEventLog | null;
};

export type QueueJob = { id: string; data: RunJobData; signal?: AbortSignal };
/**
 * Wraps every operation handler the same way: claim the run, heartbeat, report progress, end the
 * attempt at the type's timeoutSeconds, complete with the handler's outcome, retry on the same
 * run, and log one line per attempt. Attempts and time limits are decided here and in the ledger
 * alone: a job is one attempt, a retry is a new job. Returns normally when the run is done (or
 * must not run); throws so the queue records the job as failed.
 */
export async function trackOperationRun(deps: TrackDeps, job: QueueJob): Promise<void> {
  const { service, catalog, logger } = deps;
  const { runId, tenantId, type } = job.data;
  const startedAt = performance.now();
  if (!catalog.has(type)) {
    logger.error({ runId, tenantId, type }, 'no handler is registered for this operation type');
    await service.complete(tenantId, runId, job.id, type, {
      outcome: 'failed',
      failures: [{ code: 'unknown_type', message: `no handler is registered for ${type}` }],
    });
    return;
  }
  const def = catalog.get(type);
  const run = await service.markRunning(tenantId, runId, job.id, type);
  if (!run) {
    // Cancelled while queued, already completed, or handed to another job by the reaper.
    logger.debug({ runId, tenantId, type, jobId: job.id }, 'run not claimed; skipping job');
    return;
  }
  const attempt = run.attempts;
  const log = deps.events?.forAttempt(tenantId, runId, attempt) ?? null;
  const note = log ?? NO_RUN_LOG;
  note.event('attempt.started', 'info', `attempt ${attempt} of ${run.max_attempts} started`, {
    maxAttempts: run.max_attempts,
  });
  const controller = new AbortController();
  const reason = () => controller.signal.reason as unknown;
  const timeoutMs = def.timeoutSeconds * 1000;
  const timedOut = () =>
    new AttemptTimeoutError(`attempt ${attempt} ran past the ${def.timeoutSeconds}s limit of ${type}`);
  // pg-boss aborts the job's signal when its worker stops, or when the job outlives its expiry
  // (set well past timeoutSeconds, so the timer below decides first unless this process stalls).
  const onQueueAbort = () =>
    controller.abort(
      performance.now() - startedAt >= timeoutMs
        ? timedOut()
        : new WorkerShutdownError('the worker is stopping'),
    );
  job.signal?.addEventListener('abort', onQueueAbort, { once: true });
  deps.active.set(runId, { runId, tenantId, controller });
  const timer = setTimeout(() => controller.abort(timedOut()), timeoutMs);
  timer.unref();

  let beating = false;
  const beat = setInterval(async () => {
    if (beating || controller.signal.aborted) return;
    beating = true;
    try {
      const hb = await service.heartbeat(tenantId, runId, job.id);
      if (!hb.alive) controller.abort(new LeaseLostError('the run is no longer held by this worker'));
      else if (hb.cancelRequested) controller.abort(new RunCancelledError('the run was cancelled'));
    } catch (err) {
      logger.warn({ runId, tenantId, err }, 'heartbeat failed');
    } finally {
      beating = false;
    }
  }, deps.heartbeatMs);
  beat.unref();

  /** A failed attempt goes round again (a new job) while attempts remain, else the run fails. */
  let failed: FailureEntry | null = null;
  const settleFailure = async (failure: FailureEntry): Promise<string> => {
    note.event(
      failure.code === 'attempt_timeout' ? 'attempt.timed_out' : 'attempt.failed',
      'error',
      `attempt ${attempt} failed: ${failure.message}`,
      { code: failure.code },
    );
    failed = failure;
    if (attempt < run.max_attempts) {
      const row = await service.requeue(tenantId, runId, job.id, failure);
      if (row?.status === 'queued') {
        const delaySeconds = def.retryDelaySeconds ?? 0;
        note.event(
          'retry.scheduled',
          'warn',
          `retry scheduled in ${delaySeconds}s as attempt ${attempt + 1} of ${run.max_attempts}, because ${failure.code}: ${failure.message}`,
          { delaySeconds, reason: failure.code, nextAttempt: attempt + 1 },
        );
        return 'retrying';
      }
      if (row?.outcome === 'cancelled') {
        note.event('run.completed', 'info', 'completed: cancelled (asked to stop while the attempt failed)', {
          outcome: 'cancelled',
        });
        return 'cancelled';
      }
      return 'retrying';
    }
    const done = await service.complete(tenantId, runId, job.id, type, {
      outcome: 'failed',
      failures: [failure],
    });
    if (done)
      note.event('run.completed', 'error', `completed: failed after ${attempt} attempts (${failure.code})`, {
        outcome: 'failed',
        code: failure.code,
      });
    return 'failed';
  };
  const completed = (outcome: string, counts?: Record<string, number>) =>
    note.event(
      'run.completed',
      outcome === 'succeeded' || outcome === 'cancelled' ? 'info' : 'warn',
      `completed: ${outcome.replace('_', ' ')}`,
      { outcome, ...(counts ? { counts } : {}) },
    );

  let outcome = 'unknown';
  try {
    const handling = settle(() =>
      def.handler({
        run: { id: runId, tenantId, type, attempt, maxAttempts: run.max_attempts },
        inputs: (run.context as { inputs?: unknown }).inputs ?? {},
        signal: controller.signal,
        progress: (counts) => service.reportProgress(tenantId, runId, job.id, type, counts),
        logger: logger.child({ runId, tenantId, type, attempt }),
        log: note,
      }),
    );
    const ended = await Promise.race([handling, abortedBy(controller.signal, AttemptTimeoutError)]);
    clearTimeout(timer);
    if (ended === 'aborted') {
      // The ledger decides at the limit whether or not the handler honours its signal: the run is
      // retried or failed now, and any later write of this attempt is refused (it no longer holds
      // the run's job). The handler keeps its slot in this worker until it returns, so the
      // worker's concurrency still bounds what actually runs.
      clearInterval(beat);
      if (deps.active.get(runId)?.controller === controller) deps.active.delete(runId);
      const failure = { code: 'attempt_timeout', message: (reason() as Error).message, attempt };
      outcome = `timeout_${await settleFailure(failure)}`;
      await handling;
      throw new AttemptFailedError(failure.code, failure.message);
    }
    const why = reason();
    if (ended.ok) {
      const result = ended.value;
      if (why instanceof RunCancelledError) {
        outcome = 'cancelled';
        if (
          await service.complete(tenantId, runId, job.id, type, {
            outcome: 'cancelled',
            counts: result?.counts,
          })
        )
          completed('cancelled', result?.counts);
      } else if (why instanceof LeaseLostError) {
        outcome = 'lease_lost';
      } else {
        outcome = result?.outcome ?? 'succeeded';
        const done = await service.complete(tenantId, runId, job.id, type, {
          outcome: result?.outcome ?? 'succeeded',
          counts: result?.counts,
          // Each entry names the attempt it belongs to, so the page and the entry agree.
          failures: result?.failures?.map((f) => ({ ...f, attempt: f.attempt ?? attempt })),
          links: result?.links,
        });
        if (done) completed(outcome, result?.counts);
        else {
          // A run that follows a record of its own (a restore) was completed by that record's
          // last change: its log ends with the outcome that record gave it.
          const now = await service.get(tenantId, runId).catch(() => null);
          if (now?.status === 'completed' && now.outcome) {
            outcome = now.outcome;
            completed(now.outcome, now.summaryCounts);
          }
        }
      }
      return;
    }
    if (why instanceof RunCancelledError) {
      outcome = 'cancelled';
      if (await service.complete(tenantId, runId, job.id, type, { outcome: 'cancelled' }))
        completed('cancelled');
      return;
    }
    if (why instanceof LeaseLostError) {
      outcome = 'lease_lost';
      return;
    }
    const failure: FailureEntry = {
      ...(why instanceof WorkerShutdownError
        ? { code: 'worker_shutdown', message: 'the worker stopped during this attempt' }
        : toFailureEntry(ended.error, 'handler_error')),
      attempt,
    };
    outcome = await settleFailure(failure);
    // The queue keeps what is thrown; only the redacted entry may reach it.
    throw new AttemptFailedError(failure.code, failure.message);
  } finally {
    clearTimeout(timer);
    clearInterval(beat);
    job.signal?.removeEventListener('abort', onQueueAbort);
    if (deps.active.get(runId)?.controller === controller) deps.active.delete(runId);
    const fields = {
      runId,
      tenantId,
      type,
      attempt,
      durationMs: Math.round(performance.now() - startedAt),
      outcome,
    };
    const failure = failed as FailureEntry | null;
    // A failed attempt is what an operator looks for: at warn, with its code and redacted message.
    if (failure) {
      logger.warn(
        { ...fields, code: failure.code, message: redact(failure.message) },
        'operation attempt finished',
      );
    } else logger.info(fields, 'operation attempt finished');
    // Best-effort and bounded: the events of this attempt are written before the job is done.
    await log?.close();
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** The handler's end as a value, so it can race the time limit without an unhandled rejection. */
function settle<T>(fn: () => T | Promise<T>): Promise<Settled<T>> {
  return Promise.resolve()
    .then(fn)
    .then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
}

/** Resolves when the signal is aborted for the given reason; never otherwise. */
function abortedBy(
  signal: AbortSignal,
  reason: abstract new (...args: never[]) => Error,
): Promise<'aborted'> {
  return new Promise((resolve) => {
    const check = () => {
      if (signal.reason instanceof reason) resolve('aborted');
    };
    if (signal.aborted) check();
    else signal.addEventListener('abort', check, { once: true });
  });
}
