/**
 * What an operation type (and the Graph client it uses) writes to its run's event log: one small
 * API, so a library below the ledger can log into a run without knowing the ledger. Messages and
 * data are redacted and bounded before they are stored; a call never throws and never waits on
 * the database (events are written in batches behind it).
 */
export type RunLogData = Record<string, unknown>;

export interface RunLog {
  info(message: string, data?: RunLogData): void;
  warn(message: string, data?: RunLogData): void;
  error(message: string, data?: RunLogData): void;
  /** A progress milestone ("page 3 of deviceConfigurations read"). */
  milestone(message: string, data?: RunLogData): void;
  /** An event of a named kind (`graph.throttled`, `item.failed`, …) at a level. */
  event(kind: string, level: 'info' | 'warn' | 'error', message: string, data?: RunLogData): void;
}

/** A log that keeps nothing: for code run outside a run (a test, a one-off read). */
export const NO_RUN_LOG: RunLog = {
  info() {},
  warn() {},
  error() {},
  milestone() {},
  event() {},
};
