import type { Trx } from '../../db/database.ts';
import type { FetchedPolicy } from '../policies.ts';

export type BackupSetRow = {
  id: string;
  tenant_id: string;
  name: string;
  scope: string[];
  item_count: number;
  operation_run_id: string | null;
  created_at: Date;
};

export type BackupItemRow = {
  family: string;
  external_id: string;
  display_name: string;
  odata_type: string | null;
  payload: Record<string, unknown>;
  payload_hash: string;
};

const CHUNK = 500;

export const backupRepository = {
  /**
   * Writes a whole backup set. A set an earlier attempt of the same run wrote is replaced, so a
   * retried run still produces exactly one set.
   */
  async createSet(
    trx: Trx,
    tenantId: string,
    set: { id: string; name: string; scope: string[]; runId: string | null; createdAt?: Date },
    items: { family: string; policy: FetchedPolicy }[],
  ): Promise<BackupSetRow> {
    if (set.runId) {
      await trx
        .deleteFrom('backup_sets')
        .where('tenant_id', '=', tenantId)
        .where('operation_run_id', '=', set.runId)
        .execute();
    }
    const row = await trx
      .insertInto('backup_sets')
      .values({
        id: set.id,
        tenant_id: tenantId,
        name: set.name,
        scope: JSON.stringify(set.scope),
        item_count: items.length,
        operation_run_id: set.runId,
        ...(set.createdAt ? { created_at: set.createdAt } : {}),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    for (let i = 0; i < items.length; i += CHUNK) {
      await trx
        .insertInto('backup_items')
        .values(
          items.slice(i, i + CHUNK).map(({ family, policy }) => ({
            tenant_id: tenantId,
            backup_set_id: set.id,
            family,
            external_id: policy.externalId,
            display_name: policy.displayName,
            odata_type: policy.odataType,
            payload: JSON.stringify(policy.payload),
            payload_hash: policy.hash,
          })),
        )
        .execute();
    }
    return row as BackupSetRow;
  },

  async getSet(trx: Trx, tenantId: string, id: string): Promise<BackupSetRow | null> {
    const row = await trx
      .selectFrom('backup_sets')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return (row as BackupSetRow | undefined) ?? null;
  },

  async listSets(trx: Trx, tenantId: string, limit = 50): Promise<BackupSetRow[]> {
    return (await trx
      .selectFrom('backup_sets')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute()) as BackupSetRow[];
  },

  async listItems(
    trx: Trx,
    tenantId: string,
    setId: string,
    externalIds?: readonly string[],
  ): Promise<BackupItemRow[]> {
    let q = trx
      .selectFrom('backup_items')
      .select(['family', 'external_id', 'display_name', 'odata_type', 'payload', 'payload_hash'])
      .where('tenant_id', '=', tenantId)
      .where('backup_set_id', '=', setId);
    if (externalIds) {
      if (externalIds.length === 0) return [];
      q = q.where('external_id', 'in', externalIds);
    }
    return q.orderBy('family').orderBy('external_id').execute();
  },
};
