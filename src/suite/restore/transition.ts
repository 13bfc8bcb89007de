import { sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import { canonicalJson } from '../../ledger/identity.ts';
import type { RunRow } from '../../ledger/run.ts';
import type { Divergence } from '../divergence.ts';
import { RESTORE_RUN_TYPE, RESTORE_SOURCE_TYPE, restoreChangeEvent } from './mirror.ts';
import { isTerminal, type RestoreRunRow, restoreRepository } from './repository.ts';

/**
 * The restore side of `backfill` and `verify`. Restore records written before the mirror trigger
 * existed have no mirror; backfill gives them one with the trigger's own function, and verify holds
 * every mirror against its record, computing the expected state independently of the SQL that
 * wrote it.
 */

const TABLE = 'restore_runs';
const BATCH = 500;

export type Joined = RestoreRunRow & {
  mirror: (Omit<RunRow, 'completed_at'> & { completed_at: string | null }) | null;
};

/** Imports every restore record that has no mirror and was never mirrored (idempotent). */
export async function backfillRestores(
  database: Database,
  options: { batchSize?: number } = {},
): Promise<number> {
  const batchSize = options.batchSize ?? 200;
  let imported = 0;
  let after: { createdAt: Date; id: string } | null = null;
  for (;;) {
    const rows: { tenant_id: string; id: string; created_at: Date }[] = await database.systemTx(
      async (trx) => {
        // SKIP LOCKED: two backfills at once never mirror a record twice (the source index would
        // refuse it anyway); a record being written right now gets its mirror from its own trigger.
        const page = (
          await sql<{ tenant_id: string; id: string; created_at: Date }>`
          select r.tenant_id, r.id, r.created_at from restore_runs r
          where r.operation_run_id is null and r.run_pruned_at is null
            and not exists (select 1 from operation_runs m where m.tenant_id = r.tenant_id
                            and m.source_type = ${RESTORE_SOURCE_TYPE} and m.source_id = r.id::text)
            and ${after ? sql`(r.created_at, r.id) > (${after.createdAt}, ${after.id}::uuid)` : sql`true`}
          order by r.created_at, r.id limit ${batchSize}
          for update of r skip locked`.execute(trx)
        ).rows;
        for (const row of page) {
          const mirrored = await sql<{ id: string | null }>`
          select restore_run_sync_mirror(${row.tenant_id}::uuid, ${row.id}::uuid) as id`.execute(trx);
          if (mirrored.rows[0]?.id) imported++;
        }
        return page;
      },
    );
    const last = rows.at(-1);
    if (!last || rows.length < batchSize) break;
    after = { createdAt: new Date(last.created_at), id: last.id };
  }
  return imported;
}

const sameInstant = (a: Date | string | null, b: Date | string | null) =>
  a === null || b === null ? a === b : Math.abs(new Date(a).getTime() - new Date(b).getTime()) <= 1;

/** What differs between a record and its mirror (empty when they agree). */
export function compare(row: Joined, expected: ReturnType<typeof restoreChangeEvent>): string[] {
  const mirror = row.mirror!;
  if (mirror.type !== RESTORE_RUN_TYPE) return [`its mirror is a ${mirror.type} run`];
  const version = Number((mirror.context as { sourceVersion?: unknown }).sourceVersion ?? 0);
  const problems: string[] = [];
  if (row.operation_run_id !== mirror.id)
    problems.push(`links to run ${row.operation_run_id}, its mirror is ${mirror.id}`);
  if (mirror.outcome !== expected.outcome)
    problems.push(`the mirror's outcome is ${mirror.outcome}, the record says ${expected.outcome}`);
  // The ledger finished the run first (cancelled while queued, worker lost) and the record followed
  // it: the completed mirror cannot take the record's last version, only its outcome must agree.
  if (version < row.version && mirror.status === 'completed' && isTerminal(row.status)) return problems;
  if (version !== row.version)
    problems.push(`the mirror is at version ${version}, the record at ${row.version}`);
  if (mirror.status !== expected.status)
    problems.push(`the mirror's status is ${mirror.status}, the record says ${expected.status}`);
  if (canonicalJson(mirror.summary_counts) !== canonicalJson(expected.counts)) {
    problems.push(
      `the mirror counts ${canonicalJson(mirror.summary_counts)}, the items say ${canonicalJson(expected.counts)}`,
    );
  }
  if (!sameInstant(mirror.completed_at, expected.completedAt)) {
    problems.push(
      `the mirror completed at ${mirror.completed_at}, the record at ${expected.completedAt?.toISOString() ?? null}`,
    );
  }
  return problems;
}

/** Every divergence between restore records and their mirrors. */
export async function verifyRestores(database: Database): Promise<Divergence[]> {
  const out: Divergence[] = [];
  let after: { tenantId: string; id: string } | null = null;
  for (;;) {
    const page = await database.systemTx(async (trx) => {
      const rows = (
        await sql<Joined>`
          select r.*, to_jsonb(m) as mirror from restore_runs r
          left join operation_runs m on m.tenant_id = r.tenant_id
            and m.source_type = ${RESTORE_SOURCE_TYPE} and m.source_id = r.id::text
          where ${after ? sql`(r.tenant_id, r.id) > (${after.tenantId}::uuid, ${after.id}::uuid)` : sql`true`}
          order by r.tenant_id, r.id limit ${BATCH}`.execute(trx)
      ).rows;
      const found: Divergence[] = [];
      for (const row of rows) {
        const base = {
          table: TABLE,
          tenantId: row.tenant_id,
          legacyId: row.id,
          runId: row.mirror?.id ?? row.operation_run_id,
        };
        if (!row.mirror) {
          // Its mirror outlived the retention and was pruned: the record is kept, by design.
          if (row.run_pruned_at) continue;
          found.push({ ...base, problem: 'has no mirror in operation_runs (run backfill to import it)' });
          continue;
        }
        const expected = restoreChangeEvent(
          row,
          await restoreRepository.summarize(trx, row.tenant_id, row.id),
        );
        for (const problem of compare(row, expected)) found.push({ ...base, problem });
      }
      return { rows, found };
    });
    out.push(...page.found);
    const last = page.rows.at(-1);
    if (!last || page.rows.length < BATCH) break;
    after = { tenantId: last.tenant_id, id: last.id };
  }
  // Mirrors whose record is gone.
  const orphans = await sql<{ tenant_id: string; id: string; source_id: string }>`
    select m.tenant_id, m.id, m.source_id from operation_runs m
    where m.source_type = ${RESTORE_SOURCE_TYPE}
      and not exists (select 1 from restore_runs r where r.tenant_id = m.tenant_id and r.id::text = m.source_id)
    order by m.tenant_id, m.id`.execute(database.db);
  for (const m of orphans.rows) {
    out.push({
      table: TABLE,
      tenantId: m.tenant_id,
      legacyId: null,
      runId: m.id,
      problem: `is missing: run ${m.id} mirrors restore record ${m.source_id}, which does not exist`,
    });
  }
  return out;
}
