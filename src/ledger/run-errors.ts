/**
 * Errors a handler sees through its signal, or the tracker records, when an attempt ends other than
 * by the handler's own return. They belong to the ledger so operation types can recognise them
 * without importing the worker.
 */

export class RunCancelledError extends Error {
  override name = 'RunCancelledError';
  code = 'cancelled';
}
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  code = 'lease_lost';
}
export class WorkerShutdownError extends Error {
  override name = 'WorkerShutdownError';
  code = 'worker_shutdown';
}

/** The attempt ran past its type's timeoutSeconds. */
export class AttemptTimeoutError extends Error {
  override name = 'AttemptTimeoutError';
  code = 'attempt_timeout';
}

/** An error the queue stores and retries on; its message is already redacted. */
export class AttemptFailedError extends Error {
  override name = 'AttemptFailedError';
  code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
