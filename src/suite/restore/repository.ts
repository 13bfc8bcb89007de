import { sql } from 'kysely';
import type { Trx } from '../../db/database.ts';
import { createdAtKey, type Keyset, newestFirstPage } from '../../db/keyset.ts';
import type { Initiator } from '../../ledger/run.ts';
import type { RestoreAction, RestoreItemResult, RestoreStatus } from './tables.ts';

export type RestoreRunRow = {
  id: string;
  tenant_id: string;
  backup_set_id: string;
  status: RestoreStatus;
  dry_run: boolean;
  requested_items: string[] | null;
  version: number;
  initiator_kind: Initiator['kind'];
  initiator_user_id: string | null;
  initiator_name: string;
  error_code: string | null;
  error_message: string | null;
  operation_run_id: string | null;
  retry_of_restore_run_id: string | null;
  run_pruned_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
};

export type RestoreItemRow = {
  family: string;
  external_id: string;
  display_name: string;
  action: RestoreAction | null;
  result: RestoreItemResult;
  target_id: string | null;
  error_code: string | null;
  error_message: string | null;
};

export type ItemOutcome = {
  family: string;
  externalId: string;
  action: RestoreAction | null;
  result: Exclude<RestoreItemResult, 'pending'>;
  targetId?: string | null;
  error?: { code: string; message: string } | null;
};

export const TERMINAL_RESTORE_STATUSES: readonly RestoreStatus[] = [
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
];

export const isTerminal = (s: RestoreStatus) => TERMINAL_RESTORE_STATUSES.includes(s);

/**
 * SQL of the restore domain record. Every change bumps `version` in the same statement, so each
 * state of a restore has a distinct, increasing version the mirror can order by.
 */
export const restoreRepository = {
  async insert(
    trx: Trx,
    row: {
      id: string;
      tenantId: string;
      backupSetId: string;
      dryRun: boolean;
      requestedItems: string[] | null;
      initiator: Initiator;
      operationRunId: string | null;
      retryOf?: string | null;
    },
  ): Promise<RestoreRunRow> {
    return (await trx
      .insertInto('restore_runs')
      .values({
        id: row.id,
        tenant_id: row.tenantId,
        backup_set_id: row.backupSetId,
        dry_run: row.dryRun,
        requested_items: row.requestedItems ? JSON.stringify(row.requestedItems) : null,
        initiator_kind: row.initiator.kind,
        initiator_user_id: row.initiator.userId ?? null,
        initiator_name: (row.initiator.name ?? '').slice(0, 200),
        operation_run_id: row.operationRunId,
        retry_of_restore_run_id: row.retryOf ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()) as RestoreRunRow;
  },

  async get(trx: Trx, tenantId: string, id: string, forUpdate = false): Promise<RestoreRunRow | null> {
    let q = trx.selectFrom('restore_runs').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
    if (forUpdate) q = q.forUpdate();
    return ((await q.executeTakeFirst()) as RestoreRunRow | undefined) ?? null;
  },

  async findByRun(trx: Trx, tenantId: string, runId: string): Promise<RestoreRunRow | null> {
    const row = await trx
      .selectFrom('restore_runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('operation_run_id', '=', runId)
      .executeTakeFirst();
    return (row as RestoreRunRow | undefined) ?? null;
  },

  async list(
    trx: Trx,
    tenantId: string,
    after: Keyset | null,
    limit: number,
  ): Promise<(RestoreRunRow & { created_at_key: string })[]> {
    const q = trx
      .selectFrom('restore_runs')
      .selectAll()
      .select(createdAtKey.as('created_at_key'))
      .where('tenant_id', '=', tenantId);
    return (await newestFirstPage(q, after, limit).execute()) as (RestoreRunRow & {
      created_at_key: string;
    })[];
  },

  async listItems(trx: Trx, tenantId: string, restoreId: string): Promise<RestoreItemRow[]> {
    return (await trx
      .selectFrom('restore_run_items')
      .select([
        'family',
        'external_id',
        'display_name',
        'action',
        'result',
        'target_id',
        'error_code',
        'error_message',
      ])
      .where('tenant_id', '=', tenantId)
      .where('restore_run_id', '=', restoreId)
      .orderBy('family')
      .orderBy('external_id')
      .execute()) as RestoreItemRow[];
  },

  async insertItems(
    trx: Trx,
    tenantId: string,
    restoreId: string,
    items: {
      family: string;
      externalId: string;
      displayName: string;
      failed?: { code: string; message: string };
    }[],
  ): Promise<void> {
    for (let i = 0; i < items.length; i += 500) {
      await trx
        .insertInto('restore_run_items')
        .values(
          items.slice(i, i + 500).map((it) => ({
            tenant_id: tenantId,
            restore_run_id: restoreId,
            family: it.family,
            external_id: it.externalId,
            display_name: it.displayName,
            action: null,
            result: it.failed ? ('failed' as const) : ('pending' as const),
            error_code: it.failed?.code ?? null,
            error_message: it.failed?.message ?? null,
          })),
        )
        .onConflict((oc) => oc.columns(['tenant_id', 'restore_run_id', 'family', 'external_id']).doNothing())
        .execute();
    }
  },

  async recordItems(trx: Trx, tenantId: string, restoreId: string, outcomes: ItemOutcome[]): Promise<void> {
    for (const o of outcomes) {
      await trx
        .updateTable('restore_run_items')
        .set({
          action: o.action,
          result: o.result,
          target_id: o.targetId ?? null,
          error_code: o.error?.code ?? null,
          error_message: o.error?.message ?? null,
          updated_at: sql`now()`,
        })
        .where('tenant_id', '=', tenantId)
        .where('restore_run_id', '=', restoreId)
        .where('family', '=', o.family)
        .where('external_id', '=', o.externalId)
        .where('result', '=', 'pending')
        .execute();
    }
  },

  /** Items still pending become skipped (cancellation, or a restore that cannot go on). */
  async skipPending(
    trx: Trx,
    tenantId: string,
    restoreId: string,
    error?: { code: string; message: string },
  ) {
    await trx
      .updateTable('restore_run_items')
      .set({
        result: 'skipped',
        error_code: error?.code ?? null,
        error_message: error?.message ?? null,
        updated_at: sql`now()`,
      })
      .where('tenant_id', '=', tenantId)
      .where('restore_run_id', '=', restoreId)
      .where('result', '=', 'pending')
      .execute();
  },

  /**
   * Moves the record (status and/or error) and bumps its version. A terminal record never moves
   * again; the guard returns null instead.
   */
  async transition(
    trx: Trx,
    tenantId: string,
    restoreId: string,
    change: { status?: RestoreStatus; error?: { code: string; message: string } | null },
  ): Promise<RestoreRunRow | null> {
    const terminal = change.status !== undefined && isTerminal(change.status);
    const row = await trx
      .updateTable('restore_runs')
      .set({
        version: sql`version + 1`,
        updated_at: sql`now()`,
        ...(change.status ? { status: change.status } : {}),
        ...(change.status === 'running' ? { started_at: sql`coalesce(started_at, now())` } : {}),
        ...(terminal ? { completed_at: sql`now()` } : {}),
        ...(change.error !== undefined
          ? { error_code: change.error?.code ?? null, error_message: change.error?.message ?? null }
          : {}),
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', restoreId)
      .where('status', 'not in', TERMINAL_RESTORE_STATUSES)
      .returningAll()
      .executeTakeFirst();
    return (row as RestoreRunRow | undefined) ?? null;
  },

  /** Item results counted the way the mirror reports them. */
  async summarize(trx: Trx, tenantId: string, restoreId: string): Promise<RestoreSummary> {
    const rows = await trx
      .selectFrom('restore_run_items')
      .select(['action', 'result'])
      .select(sql<number>`count(*)::int`.as('n'))
      .where('tenant_id', '=', tenantId)
      .where('restore_run_id', '=', restoreId)
      .groupBy(['action', 'result'])
      .execute();
    const counts = { total: 0, created: 0, updated: 0, unchanged: 0, failed: 0, skipped: 0 };
    for (const r of rows) {
      const n = Number(r.n);
      counts.total += n;
      if (r.result === 'failed') counts.failed += n;
      else if (r.result === 'skipped') counts.skipped += n;
      else if (r.result === 'succeeded') {
        if (r.action === 'create') counts.created += n;
        else if (r.action === 'update') counts.updated += n;
        else counts.unchanged += n;
      }
    }
    const failed = await trx
      .selectFrom('restore_run_items')
      .select(['family', 'external_id', 'error_code', 'error_message'])
      .where('tenant_id', '=', tenantId)
      .where('restore_run_id', '=', restoreId)
      .where('result', '=', 'failed')
      .orderBy('family')
      .orderBy('external_id')
      .limit(20)
      .execute();
    return {
      counts,
      failures: failed.map((f) => ({
        code: f.error_code ?? 'restore_item_failed',
        message: `${f.family}/${f.external_id}: ${f.error_message ?? 'failed'}`,
      })),
    };
  },
};

export type RestoreSummary = {
  counts: {
    total: number;
    created: number;
    updated: number;
    unchanged: number;
    failed: number;
    skipped: number;
  };
  failures: { code: string; message: string }[];
};
