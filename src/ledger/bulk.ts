import { AppError, ConflictError, NotFoundError } from '../shared/errors.ts';
import type { Initiator, Run } from './run.ts';

/** The most runs one bulk request may name: one request stays one short burst of transactions. */
export const BULK_MAX_RUNS = 100;

export type BulkCancelResult =
  | { runId: string; result: 'cancelled' | 'cancel_requested' | 'already_completed'; run: Run }
  | { runId: string; result: 'not_found' };

export type BulkRetryResult =
  | { runId: string; result: 'retried' | 'already_retried'; run: Run }
  | { runId: string; result: 'not_retryable'; reason: string }
  | { runId: string; result: 'not_found' };

/** What bulk actions need of the ledger's service. */
export type BulkPort = {
  detail(tenantId: string, runId: string): Promise<Run>;
  cancel(tenantId: string, runId: string): Promise<Run>;
  retry(tenantId: string, runId: string, initiator: Initiator): Promise<Run>;
  /** Runs that retry this one, newest first. */
  retries(tenantId: string, runId: string): Promise<Run[]>;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Each id once, in the order given, lower-cased. */
function distinct(runIds: readonly string[]): string[] {
  return [...new Set(runIds.map((id) => id.toLowerCase()))];
}

/**
 * Cancels each run named, one transaction per run, and says what happened to each. Idempotent: a
 * run already asked to stop is asked again (nothing changes), a completed one is reported as such.
 * An id that is malformed, unknown or another tenant's is `not_found`, the same answer for all.
 */
export async function bulkCancel(
  port: BulkPort,
  tenantId: string,
  runIds: readonly string[],
): Promise<BulkCancelResult[]> {
  const out: BulkCancelResult[] = [];
  for (const runId of distinct(runIds)) {
    if (!UUID.test(runId)) {
      out.push({ runId, result: 'not_found' });
      continue;
    }
    try {
      const run = await port.cancel(tenantId, runId);
      out.push({ runId, result: run.status === 'completed' ? 'cancelled' : 'cancel_requested', run });
    } catch (err) {
      if (err instanceof NotFoundError) out.push({ runId, result: 'not_found' });
      else if (err instanceof ConflictError) {
        const run = await port.detail(tenantId, runId).catch(() => null);
        if (!run) out.push({ runId, result: 'not_found' });
        else if (run.status === 'completed') out.push({ runId, result: 'already_completed', run });
        // Moved between the read and the write (queued → running): ask once more.
        else out.push({ runId, result: 'cancel_requested', run: await port.cancel(tenantId, runId) });
      } else throw err;
    }
  }
  return out;
}

/**
 * Retries each run named, unless a retry of it is already active or has succeeded: then that
 * retry is the answer (`already_retried`), so sending the same request twice starts nothing more.
 */
export async function bulkRetry(
  port: BulkPort,
  tenantId: string,
  runIds: readonly string[],
  initiator: Initiator,
): Promise<BulkRetryResult[]> {
  const out: BulkRetryResult[] = [];
  const standing = async (runId: string) =>
    (await port.retries(tenantId, runId)).find((r) => r.status !== 'completed' || r.outcome === 'succeeded');
  for (const runId of distinct(runIds)) {
    if (!UUID.test(runId)) {
      out.push({ runId, result: 'not_found' });
      continue;
    }
    try {
      const existing = await standing(runId);
      if (existing) {
        out.push({ runId, result: 'already_retried', run: existing });
        continue;
      }
      out.push({ runId, result: 'retried', run: await port.retry(tenantId, runId, initiator) });
    } catch (err) {
      if (err instanceof NotFoundError) out.push({ runId, result: 'not_found' });
      else if (err instanceof ConflictError) {
        // A concurrent request may have started the retry a moment ago: that one is the answer.
        const existing = await standing(runId).catch(() => undefined);
        if (existing) out.push({ runId, result: 'already_retried', run: existing });
        else out.push({ runId, result: 'not_retryable', reason: err.message });
      } else if (err instanceof AppError) {
        out.push({ runId, result: 'not_retryable', reason: err.message });
      } else throw err;
    }
  }
  return out;
}
