import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { NotFoundError } from '../shared/errors.ts';
import { backupRepository } from './backup/repository.ts';
import { driftRepository } from './drift/generate.ts';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export type InventoryFamilyView = { family: string; itemCount: number; lastSeenAt: string | null };
export type InventoryItemView = {
  family: string;
  externalId: string;
  displayName: string;
  odataType: string | null;
  firstSeenAt: string;
  lastSeenAt: string;
};
export type BackupSetView = {
  id: string;
  name: string;
  scope: string[];
  itemCount: number;
  runId: string | null;
  createdAt: string;
};
export type BackupItemView = {
  family: string;
  externalId: string;
  displayName: string;
  odataType: string | null;
};
export type DriftBaselineView = BackupSetView & {
  lastGeneration: { runId: string; createdAt: string; outcome: string } | null;
};
export type DriftFindingsView = {
  baselineId: string;
  runId: string | null;
  generatedAt: string | null;
  data: {
    kind: 'added' | 'removed' | 'modified';
    family: string;
    externalId: string;
    displayName: string;
    changedPaths: string[];
  }[];
};

const ITEM_LIMIT = 500;

/**
 * The suite's read models for its pages (inventory, backups, drift). Every method is tenant-scoped
 * and runs in the tenant's transaction; an id of another tenant is a NotFoundError exactly as an
 * unknown one. They are pure reads, served by the read replica when one serves the tenant: the
 * pages refetch them when one of the tenant's runs changes, and a replica that has not replayed
 * that change does not serve the tenant (see Database.tenantReadTx).
 */
export class SuiteReads {
  #database: Database;

  constructor(deps: { database: Database }) {
    this.#database = deps.database;
  }

  async inventoryFamilies(tenantId: string): Promise<InventoryFamilyView[]> {
    return this.#database.tenantReadTx(tenantId, async (trx) => {
      const rows = await trx
        .selectFrom('inventory_items')
        .select([
          'family',
          sql<number>`count(*)::int`.as('count'),
          sql<Date>`max(last_seen_at)`.as('last_seen'),
        ])
        .where('tenant_id', '=', tenantId)
        .where('deleted_at', 'is', null)
        .groupBy('family')
        .orderBy('family')
        .execute();
      return rows.map((r) => ({
        family: r.family,
        itemCount: Number(r.count),
        lastSeenAt: iso(r.last_seen),
      }));
    });
  }

  async inventoryItems(tenantId: string, family?: string): Promise<InventoryItemView[]> {
    return this.#database.tenantReadTx(tenantId, async (trx) => {
      let q = trx
        .selectFrom('inventory_items')
        .select(['family', 'external_id', 'display_name', 'odata_type', 'first_seen_at', 'last_seen_at'])
        .where('tenant_id', '=', tenantId)
        .where('deleted_at', 'is', null);
      if (family !== undefined) q = q.where('family', '=', family);
      const rows = await q.orderBy('family').orderBy('display_name').limit(ITEM_LIMIT).execute();
      return rows.map((r) => ({
        family: r.family,
        externalId: r.external_id,
        displayName: r.display_name,
        odataType: r.odata_type,
        firstSeenAt: iso(r.first_seen_at)!,
        lastSeenAt: iso(r.last_seen_at)!,
      }));
    });
  }

  async backupSets(tenantId: string): Promise<BackupSetView[]> {
    return this.#database.tenantReadTx(tenantId, async (trx) =>
      (await backupRepository.listSets(trx, tenantId, 100)).map(setView),
    );
  }

  async backupItems(tenantId: string, setId: string): Promise<BackupItemView[]> {
    return this.#database.tenantReadTx(tenantId, async (trx) => {
      const set = await backupRepository.getSet(trx, tenantId, setId);
      if (!set) throw new NotFoundError('no such backup set');
      const items = await backupRepository.listItems(trx, tenantId, set.id);
      return items.map((i) => ({
        family: i.family,
        externalId: i.external_id,
        displayName: i.display_name,
        odataType: i.odata_type,
      }));
    });
  }

  /** Baselines are backup sets; each with its latest drift generation, if any. */
  async driftBaselines(tenantId: string): Promise<DriftBaselineView[]> {
    return this.#database.tenantReadTx(tenantId, async (trx) => {
      const sets = await backupRepository.listSets(trx, tenantId, 100);
      const out: DriftBaselineView[] = [];
      for (const set of sets) {
        const last = await latestGeneration(trx, tenantId, set.id);
        out.push({
          ...setView(set),
          lastGeneration: last
            ? { runId: last.id, createdAt: iso(last.created_at)!, outcome: last.outcome }
            : null,
        });
      }
      return out;
    });
  }

  /** The findings of the latest completed generation against a baseline. */
  async driftFindings(tenantId: string, baselineId: string): Promise<DriftFindingsView> {
    return this.#database.tenantReadTx(tenantId, async (trx) => {
      const set = await backupRepository.getSet(trx, tenantId, baselineId);
      if (!set) throw new NotFoundError('no such baseline');
      const last = await latestGeneration(trx, tenantId, set.id, true);
      if (!last) return { baselineId: set.id, runId: null, generatedAt: null, data: [] };
      const data = await driftRepository.listFindings(trx, tenantId, last.id);
      return { baselineId: set.id, runId: last.id, generatedAt: iso(last.created_at), data };
    });
  }
}

function setView(s: {
  id: string;
  name: string;
  scope: string[];
  item_count: number;
  operation_run_id: string | null;
  created_at: Date;
}): BackupSetView {
  return {
    id: s.id,
    name: s.name,
    scope: s.scope,
    itemCount: s.item_count,
    runId: s.operation_run_id,
    createdAt: iso(s.created_at)!,
  };
}

type Trx = Parameters<Parameters<Database['tenantTx']>[1]>[0];

async function latestGeneration(trx: Trx, tenantId: string, baselineId: string, completedOnly = false) {
  let q = trx
    .selectFrom('operation_runs')
    .select(['id', 'created_at', 'outcome'])
    .where('tenant_id', '=', tenantId)
    .where('type', '=', 'drift.generate')
    .where(
      sql<string>`coalesce(context->'links'->>'baselineId', context->'inputs'->>'baselineId')`,
      '=',
      baselineId,
    );
  if (completedOnly)
    q = q.where('status', '=', 'completed').where('outcome', 'in', ['succeeded', 'partially_succeeded']);
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
}
