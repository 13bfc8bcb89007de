import type { InitiatorKind, RunOutcome, RunStatus } from './tables.ts';

/**
 * The ledger's words, shared by the server and the UI so that labels and colours have one source.
 */
export const RUN_STATUSES: readonly RunStatus[] = ['queued', 'running', 'completed'];
export const RUN_OUTCOMES: readonly RunOutcome[] = [
  'pending',
  'succeeded',
  'partially_succeeded',
  'failed',
  'cancelled',
];
export const INITIATOR_KINDS: readonly InitiatorKind[] = ['user', 'api', 'schedule', 'system'];

export const STATUS_LABELS: Record<RunStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  completed: 'Completed',
};

export const OUTCOME_LABELS: Record<RunOutcome, string> = {
  pending: 'Pending',
  succeeded: 'Succeeded',
  partially_succeeded: 'Partially succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** Badge tone per outcome: the UI maps tones to colours. */
export const OUTCOME_TONES: Record<RunOutcome, 'neutral' | 'success' | 'warning' | 'danger' | 'muted'> = {
  pending: 'neutral',
  succeeded: 'success',
  partially_succeeded: 'warning',
  failed: 'danger',
  cancelled: 'muted',
};

export const TERMINAL_OUTCOMES: readonly RunOutcome[] = [
  'succeeded',
  'partially_succeeded',
  'failed',
  'cancelled',
];
/** Outcomes from which a retry may start a new run. */
export const RETRYABLE_OUTCOMES: readonly RunOutcome[] = ['partially_succeeded', 'failed', 'cancelled'];
