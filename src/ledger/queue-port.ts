import type { Trx } from '../db/database.ts';

/**
 * The port the ledger needs from a queue: enqueue and cancel inside the caller's transaction, so a
 * run and its job commit together. The worker's pg-boss adapter implements it; the ledger never
 * imports the adapter.
 */
export type RunJobData = { runId: string; tenantId: string; type: string };

/**
 * One job is one attempt: the queue never retries a job by itself. The ledger counts attempts and
 * enqueues a new job for each retry, and the worker's tracker ends an attempt at the type's
 * timeoutSeconds; the queue only has to deliver the job once.
 */
export type EnqueueOptions = {
  jobId: string;
  /** Seconds before the job may start (the retry delay of a retried attempt). */
  delaySeconds?: number;
  /** The attempt's time limit, enforced by the tracker; the queue may use it to size its own bound. */
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
