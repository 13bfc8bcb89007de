import type { Trx } from '../../db/database.ts';
import type { RunRow } from '../../ledger/run.ts';
import { ConflictError } from '../../shared/errors.ts';
import type { RestoreRunRow } from './repository.ts';

export type RestoreRetryInputs = { backupId: string; dryRun: boolean; items?: string[] };

/**
 * Whether Opsledger ran this restore: its mirror is a run the ledger queued (it has a job). A
 * record another application wrote is mirrored by the database trigger into a run with no job, and
 * a record whose mirror is gone (pruned) cannot be told apart, so it is treated as another's.
 */
export function ranByOpsledger(mirror: RunRow | null): boolean {
  return mirror !== null && mirror.job_id !== null;
}

/**
 * What a retry of a restore restores: exactly what the original did. For Opsledger's own restores
 * that is the record's `requested_items` (none means every item of the backup, as the person who
 * started it chose). Another application's record may leave `requested_items` empty without
 * meaning "everything": its items are then the ones its record lists, and when it lists none the
 * retry is refused rather than restoring the whole backup.
 */
export async function restoreRetryInputs(
  trx: Trx,
  record: RestoreRunRow,
  mirror: RunRow | null,
): Promise<RestoreRetryInputs> {
  const base = { backupId: record.backup_set_id, dryRun: record.dry_run };
  const requested = record.requested_items ?? [];
  if (requested.length > 0) return { ...base, items: requested };
  if (ranByOpsledger(mirror)) return record.requested_items ? { ...base, items: [] } : base;
  const listed = await trx
    .selectFrom('restore_run_items')
    .select('external_id')
    .distinct()
    .where('tenant_id', '=', record.tenant_id)
    .where('restore_run_id', '=', record.id)
    .orderBy('external_id')
    .execute();
  if (listed.length === 0) {
    throw new ConflictError(
      'this restore was written by another application without naming its items, so what it restored is unknown; a retry would restore the whole backup. Start a new restore that names the items instead.',
    );
  }
  return { ...base, items: listed.map((i) => i.external_id) };
}
