import type { Trx } from '../db/database.ts';

/**
 * The port the ledger needs from a queue: enqueue and cancel inside the caller's transaction, so a
 * run and its job commit together. The worker's pg-boss adapter implements it; the ledger never
 * imports the adapter.
 */
export type RunJobData = { runId: string; tenantId: string; type: string };

export type EnqueueOptions = {
  jobId: string;
  /** Attempts the queue may still make for this job (the first included). */
  attempts: number;
  retryDelaySeconds: number;
  timeoutSeconds: number;
  /** Higher runs first. The ledger lowers it for a tenant's deeper backlog (fair queuing). */
  priority?: number;
};

export interface RunQueue {
  enqueue(trx: Trx, job: RunJobData, options: EnqueueOptions): Promise<void>;
  cancel(trx: Trx, jobId: string): Promise<void>;
}

/**
 * Wakes the schedule evaluator at a moment (a delayed queue job): a new or resumed schedule asks to
 * be looked at when it is next due, inside the transaction that writes it (or on its own with null).
 */
export interface ScheduleWakeups {
  wakeAt(trx: Trx | null, at: Date): Promise<void>;
}
