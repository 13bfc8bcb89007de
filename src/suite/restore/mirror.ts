import type { Trx } from '../../db/database.ts';
import { type MirrorApplyResult, type MirrorState, mirrorRepository } from '../../ledger/mirror.ts';
import type { RunOutcome, RunStatus } from '../../ledger/tables.ts';
import type { RestoreRunRow, RestoreSummary } from './repository.ts';
import type { RestoreStatus } from './tables.ts';

export const RESTORE_SOURCE_TYPE = 'restore_run';
export const RESTORE_RUN_TYPE = 'restore.execute';
export const RESTORE_COUNT_KEYS = ['total', 'created', 'updated', 'unchanged', 'failed', 'skipped'] as const;

/** One state of a restore record, as the mirror receives it: a full snapshot, never a delta. */
export type RestoreChangeEvent = MirrorState;

const LEDGER_STATE: Record<RestoreStatus, { status: RunStatus; outcome: RunOutcome }> = {
  pending: { status: 'queued', outcome: 'pending' },
  running: { status: 'running', outcome: 'pending' },
  completed: { status: 'completed', outcome: 'succeeded' },
  completed_with_errors: { status: 'completed', outcome: 'partially_succeeded' },
  failed: { status: 'completed', outcome: 'failed' },
  cancelled: { status: 'completed', outcome: 'cancelled' },
};

/**
 * The ledger's view of a restore record: status mapped, counts and failures from the item results.
 * The trigger computes the same in SQL; `verify` compares the two.
 */
export function restoreChangeEvent(row: RestoreRunRow, summary: RestoreSummary): RestoreChangeEvent {
  const { status, outcome } = LEDGER_STATE[row.status];
  const failures = [...summary.failures];
  if (row.error_code && row.error_message)
    failures.unshift({ code: row.error_code, message: row.error_message });
  return {
    tenantId: row.tenant_id,
    type: RESTORE_RUN_TYPE,
    sourceType: RESTORE_SOURCE_TYPE,
    sourceId: row.id,
    version: row.version,
    status,
    outcome,
    counts: { ...summary.counts },
    failures,
    initiator: { kind: row.initiator_kind, userId: row.initiator_user_id, name: row.initiator_name },
    links: { restoreRunId: row.id, backupSetId: row.backup_set_id },
    // The same inputs a restore started here has (and the trigger gives a mirror): a dry run says so.
    inputs: { backupId: row.backup_set_id, dryRun: row.dry_run },
    createdAt: new Date(row.created_at),
    startedAt: row.started_at ? new Date(row.started_at) : null,
    completedAt: row.completed_at ? new Date(row.completed_at) : null,
  };
}

/**
 * The adapter's rules for a change delivered as an event (the trigger of migration 0004 applies the
 * same rules to every write of restore_runs): applies a restore change to its mirror. Idempotent and monotonic
 * (src/ledger/mirror.ts keeps the highest version applied), so events may be replayed, duplicated
 * or reordered without moving the mirror back.
 */
export function applyRestoreChange(trx: Trx, event: RestoreChangeEvent): Promise<MirrorApplyResult> {
  return mirrorRepository.apply(trx, event);
}
