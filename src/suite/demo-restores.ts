import type { Trx } from '../db/database.ts';
import { uuidv7At } from '../ledger/history.ts';
import type { Initiator } from '../ledger/run.ts';
import type { FetchedPolicy } from './policies.ts';
import type { RestoreAction, RestoreStatus } from './restore/tables.ts';

type Item = { family: string; policy: FetchedPolicy };
type Outcome = { action: RestoreAction; failed?: { code: string; message: string } };

/**
 * Past restores of a demo tenant, written as the executor would have left them (records, per-item
 * results). The record's mirror trigger puts each into the ledger, so Operations shows their runs
 * and each record and run link to each other: dry runs, executions, and a partial one. A record
 * is written running, then its items, then its final status, as the executor would: the mirror is
 * completed only once, with the items' counts.
 */
export async function seedRestoreHistory(
  trx: Trx,
  tenantId: string,
  backupSetId: string,
  items: Item[],
  at: (daysAgo: number, hour: number) => Date,
  entropy: (...parts: (string | number)[]) => Buffer,
): Promise<void> {
  const pick = items.slice(0, 8);
  if (pick.length < 4) return;
  const user: Initiator = { kind: 'api', name: 'change-management token' };
  const forbidden = {
    code: 'graph_forbidden',
    message:
      'Graph POST failed with HTTP 403 (Forbidden): the app lacks DeviceManagementConfiguration.ReadWrite.All',
  };
  // [days ago, dry run, outcomes per picked item, final status]
  const story: [number, boolean, Outcome[], RestoreStatus][] = [
    [30, true, pick.map((_, i) => ({ action: i < 2 ? 'update' : 'none' })), 'completed'],
    [30, false, pick.map((_, i) => ({ action: i < 2 ? 'update' : 'none' })), 'completed'],
    [12, true, pick.map((_, i) => ({ action: i === 0 ? 'create' : i < 4 ? 'update' : 'none' })), 'completed'],
    [
      11,
      false,
      pick.map((_, i) =>
        i === 0 ? { action: 'create', failed: forbidden } : { action: i < 4 ? 'update' : 'none' },
      ),
      'completed_with_errors',
    ],
    [4, true, pick.slice(0, 3).map(() => ({ action: 'none' })), 'completed'],
  ];
  let n = 0;
  for (const [daysAgo, dryRun, outcomes, status] of story) {
    n++;
    const createdAt = at(daysAgo, 14 + n);
    const completedAt = new Date(createdAt.getTime() + 4000 + outcomes.length * 700);
    const id = uuidv7At(createdAt.getTime(), entropy(tenantId, 'restore', n));
    const chosen = pick.slice(0, outcomes.length);
    await trx
      .insertInto('restore_runs')
      .values({
        id,
        tenant_id: tenantId,
        backup_set_id: backupSetId,
        status: 'running',
        dry_run: dryRun,
        requested_items: JSON.stringify(chosen.map((i) => i.policy.externalId)),
        initiator_kind: user.kind,
        initiator_name: user.name ?? '',
        created_at: createdAt,
        started_at: new Date(createdAt.getTime() + 600),
      })
      .execute();
    await trx
      .insertInto('restore_run_items')
      .values(
        chosen.map((item, i) => {
          const o = outcomes[i]!;
          return {
            tenant_id: tenantId,
            restore_run_id: id,
            family: item.family,
            external_id: item.policy.externalId,
            display_name: item.policy.displayName,
            action: o.failed ? null : o.action,
            result: o.failed ? ('failed' as const) : ('succeeded' as const),
            target_id: o.failed ? null : item.policy.externalId,
            error_code: o.failed?.code ?? null,
            error_message: o.failed?.message ?? null,
            updated_at: completedAt,
          };
        }),
      )
      .execute();
    await trx
      .updateTable('restore_runs')
      .set({ status, completed_at: completedAt })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }
}
