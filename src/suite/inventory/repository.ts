import type { Trx } from '../../db/database.ts';
import type { FetchedPolicy } from '../policies.ts';

export type ReconcileCounts = { created: number; updated: number; unchanged: number; deleted: number };

export type InventoryItem = {
  family: string;
  external_id: string;
  display_name: string;
  payload: Record<string, unknown>;
  payload_hash: string;
};

const CHUNK = 500;

function chunks<T>(list: T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

export const inventoryRepository = {
  /**
   * Makes the stored inventory of one family equal to what Graph returned: new items inserted,
   * changed ones updated, the rest touched, and items gone from Graph marked deleted (kept, so a
   * finding can still name them).
   */
  async reconcileFamily(
    trx: Trx,
    tenantId: string,
    family: string,
    items: FetchedPolicy[],
    seenAt: Date,
  ): Promise<ReconcileCounts> {
    const existing = await trx
      .selectFrom('inventory_items')
      .select(['external_id', 'payload_hash', 'deleted_at'])
      .where('tenant_id', '=', tenantId)
      .where('family', '=', family)
      .execute();
    const known = new Map(existing.map((r) => [r.external_id, r]));
    const counts: ReconcileCounts = { created: 0, updated: 0, unchanged: 0, deleted: 0 };
    const writes: FetchedPolicy[] = [];
    const touched: string[] = [];
    const present = new Set<string>();
    for (const item of items) {
      present.add(item.externalId);
      const before = known.get(item.externalId);
      if (!before || before.deleted_at !== null) {
        counts.created++;
        writes.push(item);
      } else if (before.payload_hash !== item.hash) {
        counts.updated++;
        writes.push(item);
      } else {
        counts.unchanged++;
        touched.push(item.externalId);
      }
    }
    for (const batch of chunks(writes)) {
      await trx
        .insertInto('inventory_items')
        .values(
          batch.map((i) => ({
            tenant_id: tenantId,
            family,
            external_id: i.externalId,
            display_name: i.displayName,
            odata_type: i.odataType,
            payload: JSON.stringify(i.payload),
            payload_hash: i.hash,
            first_seen_at: seenAt,
            last_seen_at: seenAt,
            deleted_at: null,
          })),
        )
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'family', 'external_id']).doUpdateSet((eb) => ({
            display_name: eb.ref('excluded.display_name'),
            odata_type: eb.ref('excluded.odata_type'),
            payload: eb.ref('excluded.payload'),
            payload_hash: eb.ref('excluded.payload_hash'),
            last_seen_at: eb.ref('excluded.last_seen_at'),
            deleted_at: null,
          })),
        )
        .execute();
    }
    for (const batch of chunks(touched, 1000)) {
      await trx
        .updateTable('inventory_items')
        .set({ last_seen_at: seenAt })
        .where('tenant_id', '=', tenantId)
        .where('family', '=', family)
        .where('external_id', 'in', batch)
        .execute();
    }
    const gone = existing.filter((r) => r.deleted_at === null && !present.has(r.external_id));
    for (const batch of chunks(
      gone.map((r) => r.external_id),
      1000,
    )) {
      await trx
        .updateTable('inventory_items')
        .set({ deleted_at: seenAt })
        .where('tenant_id', '=', tenantId)
        .where('family', '=', family)
        .where('external_id', 'in', batch)
        .execute();
    }
    counts.deleted = gone.length;
    return counts;
  },

  /** Items currently in Graph (as of the last sync) of the given families. */
  async listCurrent(trx: Trx, tenantId: string, families: readonly string[]): Promise<InventoryItem[]> {
    if (families.length === 0) return [];
    return trx
      .selectFrom('inventory_items')
      .select(['family', 'external_id', 'display_name', 'payload', 'payload_hash'])
      .where('tenant_id', '=', tenantId)
      .where('family', 'in', families)
      .where('deleted_at', 'is', null)
      .orderBy('family')
      .orderBy('external_id')
      .execute();
  },
};
