import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trx } from '../src/db/database.ts';
import { historyRepository, uuidv7At } from '../src/ledger/history.ts';
import { backfillLegacy, describeDivergence, verifyLegacy } from '../src/suite/legacy/transition.ts';
import { pruneRuns } from '../src/worker/maintenance.ts';
import { type ExternalWriter, externalWriter } from './helpers/external-writer.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

/**
 * Retention deletes the ledger's rows and nothing else: legacy rows, drift findings, backups and
 * restore records outlive their runs, and backfill, prune and verify agree about it.
 */

const DOMAIN_TABLES = [
  'inventory_sync_runs',
  'drift_generation_runs',
  'drift_findings',
  'backup_sets',
  'backup_items',
  'restore_runs',
  'restore_run_items',
] as const;

let ledger: SuiteLedger;
let writer: ExternalWriter;
let tenant: string;

const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000);

/** Every row of the domain tables, without the link to the ledger (which retention may clear). */
async function domainSnapshot(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of DOMAIN_TABLES) {
    const rows = await sql<{ t: string }>`
      select (to_jsonb(x) - 'operation_run_id' - 'run_pruned_at')::text as t from ${sql.table(table)} x
      order by 1`.execute(ledger.database.db);
    out[table] = rows.rows.map((r) => r.t);
  }
  return out;
}

async function completedRun(
  trx: Trx,
  type: string,
  at: Date,
  identity: Record<string, unknown>,
  counts: Record<string, number> = {},
) {
  const run = await historyRepository.insertCompleted(trx, {
    id: uuidv7At(at.getTime()),
    tenantId: tenant,
    type,
    identityInputs: identity,
    initiator: { kind: 'schedule' },
    context: { inputs: identity },
    counts,
    failures: [],
    outcome: 'succeeded',
    createdAt: at,
    startedAt: at,
    completedAt: at,
  });
  return run!.id;
}

beforeAll(async () => {
  ledger = await startSuiteLedger({ worker: false });
  tenant = await ledger.createTenant('Aged');
  writer = await externalWriter(ledger);
  const baseline = uuidv7();
  await ledger.database.systemTx(async (trx) => {
    // A backup taken 300 days ago by a run, and the drift generations against it: an old one and
    // the latest, both older than the retention.
    const backupRun = await completedRun(trx, 'backup.create', daysAgo(300), {
      name: 'Baseline',
      scope: ['x'],
    });
    await sql`insert into backup_sets (id, tenant_id, name, scope, item_count, operation_run_id, created_at)
              values (${baseline}, ${tenant}, 'Baseline', '["compliancePolicies"]', 1, ${backupRun}, ${daysAgo(300)})`.execute(
      trx,
    );
    await sql`insert into backup_items (tenant_id, backup_set_id, family, external_id, payload, payload_hash)
              values (${tenant}, ${baseline}, 'compliancePolicies', 'p1', '{}', ${'0'.repeat(64)})`.execute(
      trx,
    );
    for (const at of [daysAgo(200), daysAgo(120)]) {
      const drift = await completedRun(
        trx,
        'drift.generate',
        at,
        { baselineId: baseline },
        { added: 0, removed: 0, modified: 1 },
      );
      await sql`insert into drift_generation_runs (id, tenant_id, operation_run_id, state, baseline_id, modified_count,
                                                   started_at, finished_at, created_at)
                values (${uuidv7()}, ${tenant}, ${drift}, 'done', ${baseline}, 1, ${at}, ${at}, ${at})`.execute(
        trx,
      );
      await sql`insert into drift_findings (id, tenant_id, operation_run_id, baseline_id, kind, family, external_id, created_at)
                values (${uuidv7()}, ${tenant}, ${drift}, ${baseline}, 'modified', 'compliancePolicies', 'p1', ${at})`.execute(
        trx,
      );
    }
    // Inventory syncs: one written in parallel long ago, one recent, one from before the ledger.
    for (const at of [daysAgo(150), daysAgo(10)]) {
      const sync = await completedRun(
        trx,
        'inventory.sync',
        at,
        { scope: ['compliancePolicies'] },
        { created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 },
      );
      await sql`insert into inventory_sync_runs (id, tenant_id, operation_run_id, status, scope, items_created,
                                                 started_at, finished_at, created_at)
                values (${uuidv7()}, ${tenant}, ${sync}, 'success', '["compliancePolicies"]', 0,
                        ${at}, ${at}, ${at})`.execute(trx);
    }
    await sql`insert into inventory_sync_runs (id, tenant_id, status, scope, items_created, finished_at, created_at)
              values (${uuidv7()}, ${tenant}, 'success', '[]', 3, ${daysAgo(400)}, ${daysAgo(400)})`.execute(
      trx,
    );
  });
  // Restores: one another application wrote 100 days ago (mirrored as it was written) and one from
  // before the mirror existed.
  await writer.tx(async (q) => {
    await q(
      `insert into restore_runs (id, tenant_id, backup_set_id, status, initiator_kind, created_at, started_at, completed_at)
       values ($1, $2, $3, 'completed', 'system', $4, $4, $4)`,
      [uuidv7(), tenant, baseline, daysAgo(100)],
    );
    // As written before the mirror trigger existed: no trigger fires for these rows.
    await q('set local session_replication_role = replica');
    const predating = uuidv7();
    await q(
      `insert into restore_runs (id, tenant_id, backup_set_id, status, initiator_kind, created_at, started_at, completed_at)
       values ($1, $2, $3, 'failed', 'system', $4, $4, $4)`,
      [predating, tenant, baseline, daysAgo(250)],
    );
    await q(
      `insert into restore_run_items (tenant_id, restore_run_id, family, external_id, result, error_message)
       values ($1, $2, 'compliancePolicies', 'p1', 'failed', 'refused')`,
      [tenant, predating],
    );
  });
});

afterAll(async () => {
  await writer?.close();
  await ledger?.stop();
});

describe('retention keeps what is not the ledger’s', () => {
  it('backfill, prune and verify on aged data lose nothing outside operation_runs', async () => {
    const before = await domainSnapshot();
    expect(before.drift_findings).toHaveLength(2);
    const backfilled = await backfillLegacy(ledger.database);
    expect(backfilled.byTable).toEqual({ inventory_sync_runs: 1, drift_generation_runs: 0, restore_runs: 1 });
    expect((await verifyLegacy(ledger.database)).map(describeDivergence)).toEqual([]);
    const runsBefore = await sql<{ n: number }>`select count(*)::int as n from operation_runs`.execute(
      ledger.database.db,
    );
    expect(runsBefore.rows[0]!.n).toBe(8);

    const pruned = await pruneRuns({ database: ledger.database, retentionDays: 90, logger: ledger.logger });
    // Every run but the recent sync was older than the retention.
    expect(pruned.deleted).toBe(7);
    const left = await sql<{ type: string }>`select type from operation_runs`.execute(ledger.database.db);
    expect(left.rows).toEqual([{ type: 'inventory.sync' }]);

    // Nothing outside operation_runs was lost or changed: only links to pruned runs were cleared,
    // and marked as retention's.
    expect(await domainSnapshot()).toEqual(before);
    const links = await sql<{ table: string; linked: number; pruned: number }>`
      select 'inventory_sync_runs' as table, count(operation_run_id)::int as linked, count(run_pruned_at)::int as pruned from inventory_sync_runs
      union all select 'drift_generation_runs', count(operation_run_id)::int, count(run_pruned_at)::int from drift_generation_runs
      union all select 'restore_runs', count(operation_run_id)::int, count(run_pruned_at)::int from restore_runs
      union all select 'backup_sets', count(operation_run_id)::int, 0 from backup_sets`.execute(
      ledger.database.db,
    );
    expect(links.rows).toEqual([
      { table: 'inventory_sync_runs', linked: 1, pruned: 2 },
      { table: 'drift_generation_runs', linked: 0, pruned: 2 },
      { table: 'restore_runs', linked: 0, pruned: 2 },
      { table: 'backup_sets', linked: 0, pruned: 0 },
    ]);
    // The drift findings still name their generation, the latest of the baseline included.
    const generations = await sql<{ n: number }>`
      select count(distinct operation_run_id)::int as n from drift_findings`.execute(ledger.database.db);
    expect(generations.rows[0]!.n).toBe(2);

    // And the transition tools agree: nothing to import again, nothing diverges.
    expect((await backfillLegacy(ledger.database)).imported).toBe(0);
    expect((await verifyLegacy(ledger.database)).map(describeDivergence)).toEqual([]);
  });
});
