import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import type { Database, Trx } from '../db/database.ts';
import type { OperationCatalog, OperationTypeDefinition } from '../ledger/catalog.ts';
import type { NewRunEvent } from '../ledger/event-log.ts';
import type { RunEventLog } from '../ledger/event-log-service.ts';
import { runRepository as repo } from '../ledger/repository.ts';
import type { RunRow } from '../ledger/run.ts';
import { boundFailures } from '../shared/failures.ts';
import type { Logger } from '../shared/logger.ts';
import { BOSS_SCHEMA, type RunQueue } from './boss-queue.ts';

export type ReaperDeps = {
  database: Database;
  catalog: OperationCatalog;
  queue: RunQueue;
  logger: Logger;
  staleRunSeconds: number;
  now?: () => Date;
  onRunChanged?: (run: RunRow) => void;
  /** The per-run event log: what the reaper did to a run is written there too. */
  events?: RunEventLog | null;
};

export type ReapReport = { retried: number; failed: number; requeuedOrphans: number; failedOrphans: number };

const BATCH = 100;

/** A new job for a run that goes round again (the ledger has checked it has attempts left). */
function enqueueAttempt(
  queue: RunQueue,
  trx: Trx,
  run: RunRow,
  def: OperationTypeDefinition,
  jobId: string,
  delaySeconds: number,
): Promise<void> {
  return queue.enqueue(
    trx,
    { runId: run.id, tenantId: run.tenant_id, type: run.type },
    { jobId, delaySeconds, timeoutSeconds: def.timeoutSeconds },
  );
}

/**
 * Finds runs whose worker died (no heartbeat for staleRunSeconds) and queued runs whose job is
 * gone. Each is retried under a new job while attempts remain, else completed `failed` with
 * `worker_lost`. Safe with several reapers at once: rows are locked with SKIP LOCKED and every
 * update is guarded on the job the reaper saw.
 */
export async function reapStaleRuns(deps: ReaperDeps): Promise<ReapReport> {
  const now = deps.now?.() ?? new Date();
  const staleBefore = new Date(now.getTime() - deps.staleRunSeconds * 1000);
  const report: ReapReport = { retried: 0, failed: 0, requeuedOrphans: 0, failedOrphans: 0 };
  const changed: RunRow[] = [];
  const notes: { run: RunRow; events: NewRunEvent[] }[] = [];
  await deps.database.systemTx(async (trx) => {
    for (const run of await repo.findStale(trx, staleBefore, BATCH)) {
      const def = deps.catalog.has(run.type) ? deps.catalog.get(run.type) : undefined;
      const oldJob = run.job_id!;
      let row: RunRow | null;
      // Completes the run as lost, guarded by the job and heartbeat it was found stale with.
      const completeLost = (outcome: 'cancelled' | 'failed', message: string) =>
        repo.complete(
          trx,
          run.tenant_id,
          run.id,
          { jobId: oldJob, staleBefore },
          { outcome, failures: [{ code: 'worker_lost', message, attempt: run.attempts }] },
        );
      if (run.cancel_requested_at) {
        row = await completeLost('cancelled', 'the worker stopped before it could finish cancelling');
        if (row) report.failed++;
      } else if (def && run.attempts < run.max_attempts) {
        const jobId = uuidv7();
        row = await repo.requeue(
          trx,
          run.tenant_id,
          run.id,
          { jobId: oldJob, staleBefore },
          {
            jobId,
            failures: boundFailures([
              {
                code: 'worker_lost',
                message: `attempt ${run.attempts} stopped heartbeating; retrying`,
                attempt: run.attempts,
              },
            ]),
          },
        );
        if (row) {
          await enqueueAttempt(deps.queue, trx, run, def, jobId, def.retryDelaySeconds ?? 0);
          report.retried++;
        }
      } else {
        row = await completeLost('failed', `the worker stopped heartbeating during attempt ${run.attempts}`);
        if (row) report.failed++;
      }
      if (row) {
        await deps.queue.cancel(trx, oldJob);
        await def?.onRunWrite?.(trx, row);
        changed.push(row);
        const lost: NewRunEvent = {
          kind: 'attempt.reaped',
          level: 'error',
          attempt: run.attempts,
          message: `attempt ${run.attempts} stopped heartbeating (last heartbeat ${run.last_heartbeat_at ? new Date(run.last_heartbeat_at).toISOString() : 'never'}); the worker is presumed lost`,
          data: { code: 'worker_lost' },
        };
        const delaySeconds = def?.retryDelaySeconds ?? 0;
        const next: NewRunEvent =
          row.status === 'queued'
            ? {
                kind: 'retry.scheduled',
                level: 'warn',
                attempt: run.attempts,
                message: `retry scheduled in ${delaySeconds}s as attempt ${run.attempts + 1} of ${run.max_attempts}, because worker_lost`,
                data: { delaySeconds, reason: 'worker_lost', nextAttempt: run.attempts + 1 },
              }
            : {
                kind: 'run.completed',
                level: row.outcome === 'cancelled' ? 'info' : 'error',
                attempt: run.attempts,
                message: `completed: ${row.outcome} (worker_lost)`,
                data: { outcome: row.outcome, code: 'worker_lost' },
              };
        notes.push({ run: row, events: [lost, next] });
      }
    }

    const orphans = await repo.findOrphanedQueued(trx, staleBefore, `${BOSS_SCHEMA}.job`, BATCH);
    for (const run of orphans) {
      const def = deps.catalog.has(run.type) ? deps.catalog.get(run.type) : undefined;
      let row: RunRow | null;
      if (def && run.attempts < run.max_attempts) {
        const jobId = uuidv7();
        row = await repo.reassignQueuedJob(trx, run.tenant_id, run.id, run.job_id, jobId);
        if (row) {
          await enqueueAttempt(deps.queue, trx, run, def, jobId, 0);
          report.requeuedOrphans++;
        }
      } else {
        row = await repo.complete(
          trx,
          run.tenant_id,
          run.id,
          { status: 'queued' },
          {
            outcome: 'failed',
            failures: [
              { code: 'job_lost', message: 'the queued job of this run was lost', attempt: run.attempts },
            ],
          },
        );
        if (row) {
          report.failedOrphans++;
          notes.push({
            run: row,
            events: [
              {
                kind: 'run.completed',
                level: 'error',
                attempt: run.attempts,
                message: 'completed: failed (job_lost: the queued job of this run was lost)',
                data: { outcome: 'failed', code: 'job_lost' },
              },
            ],
          });
        }
      }
      if (row) {
        await def?.onRunWrite?.(trx, row);
        changed.push(row);
      }
    }
  });
  for (const row of changed) deps.onRunChanged?.(row);
  // After the commit, best-effort: a failed event write must not undo the reaping.
  for (const { run, events } of notes) await deps.events?.append(run.tenant_id, run.id, events);
  if (changed.length > 0) deps.logger.warn({ ...report }, 'reaped stale runs');
  return report;
}

export type PruneReport = { deleted: number; batches: number; maxBatchMs: number };

/**
 * Deletes completed runs older than the retention period in small batches, each its own short
 * transaction, so readers and writers are never blocked for long. Active runs are never touched.
 * Only operation_runs rows are deleted: legacy rows, drift findings, backups and restore records
 * outlive their runs (docs/data-ownership.md).
 */
export async function pruneRuns(deps: {
  database: Database;
  retentionDays: number;
  batchSize?: number;
  now?: () => Date;
  logger: Logger;
  maxBatches?: number;
}): Promise<PruneReport> {
  const batchSize = deps.batchSize ?? 1000;
  const cutoff = new Date((deps.now?.() ?? new Date()).getTime() - deps.retentionDays * 86_400_000);
  const report: PruneReport = { deleted: 0, batches: 0, maxBatchMs: 0 };
  for (;;) {
    const t0 = performance.now();
    const rows = await deps.database.systemTx(async (trx) => {
      // Rows of other owners that name a pruned run keep their data; their link is cleared (ON
      // DELETE SET NULL) and, seeing this setting, their triggers note that retention cleared it.
      await sql`select set_config('opsledger.pruning', 'on', true)`.execute(trx);
      return repo.pruneBatch(trx, cutoff, batchSize);
    });
    const ms = performance.now() - t0;
    report.batches++;
    report.deleted += rows.length;
    report.maxBatchMs = Math.max(report.maxBatchMs, ms);
    if (rows.length < batchSize) break;
    if (deps.maxBatches && report.batches >= deps.maxBatches) break;
    // Let other work through between batches.
    await new Promise((r) => setImmediate(r));
  }
  if (report.deleted > 0)
    deps.logger.info({ ...report, cutoff: cutoff.toISOString() }, 'pruned completed runs');
  return report;
}
