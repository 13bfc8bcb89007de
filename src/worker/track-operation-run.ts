import type { OperationCatalog } from '../ledger/catalog.ts';
import type { RunJobData } from '../ledger/queue-port.ts';
import {
  AttemptFailedError,
  LeaseLostError,
  RunCancelledError,
  WorkerShutdownError,
} from '../ledger/run-errors.ts';
import type { OperationRunService } from '../ledger/service.ts';
import { toFailureEntry } from '../shared/failures.ts';
import type { Logger } from '../shared/logger.ts';

export { AttemptFailedError, LeaseLostError, RunCancelledError, WorkerShutdownError };

export type ActiveRun = { runId: string; tenantId: string; controller: AbortController };

export type TrackDeps = {
  service: OperationRunService;
  catalog: OperationCatalog;
  logger: Logger;
  heartbeatMs: number;
  /** Runs in flight in this worker, so cancellation notices and shutdown can reach them. */
  active: Map<string, ActiveRun>;
};

export type QueueJob = { id: string; data: RunJobData; signal?: AbortSignal };

/**
 * Wraps every operation handler the same way: claim the run, heartbeat, report progress,
 * complete with the handler's outcome, retry on the same run, and log one line per attempt.
 * Returns normally when the run is done (or must not run); throws to make the queue retry.
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
  const run = await service.markRunning(tenantId, runId, job.id);
  if (!run) {
    // Cancelled while queued, already completed, or handed to another job by the reaper.
    logger.debug({ runId, tenantId, type, jobId: job.id }, 'run not claimed; skipping job');
    return;
  }
  const attempt = run.attempts;
  const controller = new AbortController();
  const onQueueAbort = () => controller.abort(new WorkerShutdownError('the worker is stopping'));
  job.signal?.addEventListener('abort', onQueueAbort, { once: true });
  deps.active.set(runId, { runId, tenantId, controller });

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

  let outcome = 'unknown';
  const reason = () => controller.signal.reason as unknown;
  try {
    const result = await def.handler({
      run: { id: runId, tenantId, type, attempt, maxAttempts: run.max_attempts },
      inputs: (run.context as { inputs?: unknown }).inputs ?? {},
      signal: controller.signal,
      progress: (counts) => service.reportProgress(tenantId, runId, job.id, type, counts),
      logger: logger.child({ runId, tenantId, type, attempt }),
    });
    if (reason() instanceof RunCancelledError) {
      outcome = 'cancelled';
      await service.complete(tenantId, runId, job.id, type, { outcome: 'cancelled', counts: result?.counts });
    } else if (reason() instanceof LeaseLostError) {
      outcome = 'lease_lost';
    } else {
      outcome = result?.outcome ?? 'succeeded';
      await service.complete(tenantId, runId, job.id, type, {
        outcome: result?.outcome ?? 'succeeded',
        counts: result?.counts,
        failures: result?.failures,
        links: result?.links,
      });
    }
  } catch (err) {
    const why = reason();
    if (why instanceof RunCancelledError) {
      outcome = 'cancelled';
      await service.complete(tenantId, runId, job.id, type, { outcome: 'cancelled' });
      return;
    }
    if (why instanceof LeaseLostError) {
      outcome = 'lease_lost';
      return;
    }
    const failure =
      why instanceof WorkerShutdownError
        ? { code: 'worker_shutdown', message: 'the worker stopped during this attempt' }
        : toFailureEntry(err, 'handler_error');
    if (attempt < run.max_attempts) {
      outcome = 'retrying';
      await service.requeue(tenantId, runId, job.id, failure);
    } else {
      outcome = 'failed';
      await service.complete(tenantId, runId, job.id, type, { outcome: 'failed', failures: [failure] });
    }
    // The queue keeps what is thrown; only the redacted entry may reach it.
    throw new AttemptFailedError(failure.code, failure.message);
  } finally {
    clearInterval(beat);
    job.signal?.removeEventListener('abort', onQueueAbort);
    deps.active.delete(runId);
    logger.info(
      { runId, tenantId, type, attempt, durationMs: Math.round(performance.now() - startedAt), outcome },
      'operation attempt finished',
    );
  }
}
