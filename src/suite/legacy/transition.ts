import { sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import { historyRepository, uuidv7At } from '../../ledger/history.ts';
import { canonicalJson } from '../../ledger/identity.ts';
import type { RunRow } from '../../ledger/run.ts';
import { type Divergence, describeDivergence } from '../divergence.ts';
import { backfillRestores, verifyRestores } from '../restore/transition.ts';
import { LEGACY_SPECS, type LegacyRow, type LegacySpec } from './legacy.ts';

/**
 * The end of the transition from the legacy run tables: `backfill` imports legacy rows that never
 * had a canonical run (and restore records that predate their mirror), and `verify` reports every
 * way the two disagree. Both work across tenants
 * (system transactions), in keyset batches so a large history never sits in memory at once.
 */

export { type Divergence, describeDivergence };

const BATCH = 500;

type Joined = LegacyRow & { run: RunRow | null };

const sameInstant = (a: unknown, b: unknown) => {
  if (a === null || a === undefined || b === null || b === undefined) return a == null && b == null;
  // Timestamps pass through JavaScript (millisecond) on one side and stay microsecond on the other.
  return Math.abs(new Date(a as string).getTime() - new Date(b as string).getTime()) <= 1;
};

function compare(spec: LegacySpec, row: Joined): string[] {
  const run = row.run!;
  if (run.type !== spec.type) return [`links to a ${run.type} run, expected ${spec.type}`];
  const expected = spec.fromRun(run);
  const backfilled = Boolean((run.context as { backfilled?: unknown }).backfilled);
  const problems: string[] = [];
  for (const [col, want] of Object.entries(expected)) {
    const have = row[col];
    if (col === 'started_at') continue;
    if (col === 'finished_at') {
      if (backfilled && have === null) continue;
      if (!sameInstant(have, want)) problems.push(`${col} is ${fmt(have)}, the run says ${fmt(want)}`);
      continue;
    }
    // Counters are only written at transitions; a running run's progress is not a divergence.
    if (col in spec.counters && run.status !== 'completed') continue;
    const a = col === 'scope' ? canonicalJson(have) : have;
    const b = col === 'scope' ? canonicalJson(JSON.parse(String(want))) : want;
    if (a !== b && !(a == null && b == null)) problems.push(`${col} is ${fmt(have)}, the run says ${fmt(b)}`);
  }
  return problems;
}

function fmt(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v) ?? 'null';
}

/** Every divergence between the legacy tables and operation_runs. Empty when they agree. */
export async function verifyLegacy(database: Database): Promise<Divergence[]> {
  const out: Divergence[] = [];
  for (const spec of LEGACY_SPECS) {
    const table = sql.table(spec.table);
    let after: { tenantId: string; id: string } | null = null;
    for (;;) {
      const page: { rows: Joined[] } = await sql<Joined>`
        select l.*, to_jsonb(r) as run from ${table} l
        left join operation_runs r on r.tenant_id = l.tenant_id and r.id = l.operation_run_id
        where ${after ? sql`(l.tenant_id, l.id) > (${after.tenantId}::uuid, ${after.id}::uuid)` : sql`true`}
        order by l.tenant_id, l.id limit ${BATCH}`.execute(database.db);
      for (const row of page.rows) {
        const base = {
          table: spec.table,
          tenantId: row.tenant_id,
          legacyId: row.id,
          runId: row.operation_run_id,
        };
        if (!row.operation_run_id) {
          // Its run outlived the retention and was pruned: the legacy row is kept, by design.
          if (row.run_pruned_at) continue;
          out.push({ ...base, problem: 'has no canonical run (run backfill to import it)' });
          continue;
        }
        for (const problem of compare(spec, row)) out.push({ ...base, problem });
      }
      const last = page.rows.at(-1);
      if (!last || page.rows.length < BATCH) break;
      after = { tenantId: last.tenant_id, id: last.id };
    }
    // A run written while legacy writes were on must have its row; one started with them off is marked.
    let afterRun: { tenantId: string; id: string } | null = null;
    for (;;) {
      const missing: { rows: { tenant_id: string; id: string }[] } = await sql<{
        tenant_id: string;
        id: string;
      }>`
        select r.tenant_id, r.id from operation_runs r
        where r.type = ${spec.type}
          and coalesce(r.context->>'legacyWrite', 'true') <> 'false'
          and not exists (select 1 from ${table} l where l.tenant_id = r.tenant_id and l.operation_run_id = r.id)
          and ${afterRun ? sql`(r.tenant_id, r.id) > (${afterRun.tenantId}::uuid, ${afterRun.id}::uuid)` : sql`true`}
        order by r.tenant_id, r.id limit ${BATCH}`.execute(database.db);
      for (const r of missing.rows) {
        out.push({
          table: spec.table,
          tenantId: r.tenant_id,
          legacyId: null,
          runId: r.id,
          problem: `is missing: run ${r.id} (${spec.type}) has no legacy row`,
        });
      }
      const last = missing.rows.at(-1);
      if (!last || missing.rows.length < BATCH) break;
      afterRun = { tenantId: last.tenant_id, id: last.id };
    }
  }
  out.push(...(await verifyRestores(database)));
  return out;
}

export type BackfillReport = {
  imported: number;
  /** Legacy rows still pending or in progress: a legacy worker may own them, so they wait. */
  notFinished: number;
  byTable: Record<string, number>;
};

/**
 * Imports every finished legacy row that has no canonical run as a completed run marked
 * `context.backfilled`, and links the row to it in the same transaction. Linked rows are never
 * selected again, so running it twice imports each row once; rows are locked with SKIP LOCKED
 * so two backfills at once do not import a row twice either.
 */
export async function backfillLegacy(
  database: Database,
  options: { batchSize?: number } = {},
): Promise<BackfillReport> {
  const batchSize = options.batchSize ?? 200;
  const report: BackfillReport = { imported: 0, notFinished: 0, byTable: {} };
  for (const spec of LEGACY_SPECS) {
    report.byTable[spec.table] = 0;
    let after: { createdAt: Date; id: string } | null = null;
    for (;;) {
      const batch = await database.systemTx(async (trx) => {
        const rows = (
          await sql<LegacyRow>`
            select * from ${sql.table(spec.table)}
            where operation_run_id is null and run_pruned_at is null
              and ${after ? sql`(created_at, id) > (${after.createdAt}, ${after.id}::uuid)` : sql`true`}
            order by created_at, id limit ${batchSize}
            for update skip locked`.execute(trx)
        ).rows;
        for (const row of rows) {
          const canonical = spec.toRun(row);
          if (!canonical) {
            report.notFinished++;
            continue;
          }
          const createdAt = new Date(row.created_at);
          const completedAt = new Date(row.finished_at ?? (row.updated_at as Date | null) ?? row.created_at);
          const run = await historyRepository.insertCompleted(trx, {
            id: uuidv7At(createdAt.getTime()),
            tenantId: row.tenant_id,
            type: spec.type,
            identityInputs: canonical.identityInputs,
            initiator: { kind: 'system', name: 'backfill' },
            context: { inputs: canonical.inputs, backfilled: { table: spec.table, legacyId: row.id } },
            counts: canonical.counts,
            failures: canonical.failures,
            outcome: canonical.outcome,
            createdAt,
            startedAt: row.started_at ? new Date(row.started_at) : null,
            completedAt,
          });
          if (!run) throw new Error(`could not import ${spec.table} row ${row.id}`);
          await sql`update ${sql.table(spec.table)} set operation_run_id = ${run.id}
                    where tenant_id = ${row.tenant_id} and id = ${row.id}`.execute(trx);
          report.imported++;
          report.byTable[spec.table]!++;
        }
        return rows;
      });
      const last = batch.at(-1);
      if (!last || batch.length < batchSize) break;
      after = { createdAt: new Date(last.created_at), id: last.id };
    }
  }
  const restores = await backfillRestores(database, { batchSize });
  report.byTable.restore_runs = restores;
  report.imported += restores;
  return report;
}
