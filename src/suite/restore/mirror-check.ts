import { sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import { type MirrorCheckReport, mirrorRepository } from '../../ledger/mirror.ts';
import { RESTORE_SOURCE_TYPE, restoreChangeEvent } from './mirror.ts';
import { restoreRepository, TERMINAL_RESTORE_STATUSES } from './repository.ts';
import { compare, type Joined } from './transition.ts';

const BATCH = 200;

/** What the safety net writes on a mirror whose record vanished without the delete trigger firing. */
const ORPHAN_MESSAGE = 'its restore record no longer exists; what it restored is not known';

/**
 * The periodic mirror check of restore records, across tenants (a worker runs it; `verify` is the
 * full report a person asks for). It completes active mirrors whose record is gone (a delete the
 * trigger of migration 0012 did not see: a TRUNCATE, or triggers switched off), and compares each
 * record that can still change, or changed lately, or whose mirror is marked, with its mirror by
 * the rules `verify` applies: a mirror that disagrees is marked on the run (`divergence`), a mark
 * whose record and mirror agree again is cleared.
 */
export async function checkRestoreMirrors(
  database: Database,
  options: { lookbackHours?: number } = {},
): Promise<MirrorCheckReport> {
  const report: MirrorCheckReport = { checked: 0, divergent: 0, marked: 0, cleared: 0, completedOrphans: 0 };
  const orphans = await database.systemTx((trx) =>
    sql<{ id: string | null }>`
      select opsledger_mirror_source_deleted(m.tenant_id, m.source_type, m.source_id, ${ORPHAN_MESSAGE}) as id
      from operation_runs m
      where m.source_type = ${RESTORE_SOURCE_TYPE} and m.status <> 'completed'
        and not exists (select 1 from restore_runs r where r.tenant_id = m.tenant_id and r.id::text = m.source_id)`.execute(
      trx,
    ),
  );
  report.completedOrphans = orphans.rows.filter((r) => r.id).length;
  // A mirror whose record is gone says so in its failure summary; a mark of an earlier
  // disagreement with that record has nothing left to compare with.
  const unmarked = await database.systemTx((trx) =>
    sql`update operation_runs m set divergence = null
        where m.source_type = ${RESTORE_SOURCE_TYPE} and m.divergence is not null
          and not exists (select 1 from restore_runs r where r.tenant_id = m.tenant_id and r.id::text = m.source_id)`.execute(
      trx,
    ),
  );
  report.cleared += Number(unmarked.numAffectedRows ?? 0);

  const lookbackHours = options.lookbackHours ?? 24;
  let after: { tenantId: string; id: string } | null = null;
  for (;;) {
    const page: Joined[] = await database.systemTx(async (trx) => {
      const rows = (
        await sql<Joined>`
          select r.*, to_jsonb(m) as mirror from restore_runs r
          join operation_runs m on m.tenant_id = r.tenant_id
            and m.source_type = ${RESTORE_SOURCE_TYPE} and m.source_id = r.id::text
          where (r.status not in (${sql.join(TERMINAL_RESTORE_STATUSES)})
                 or r.updated_at > now() - make_interval(hours => ${lookbackHours})
                 or m.status <> 'completed'
                 or m.divergence is not null)
            and ${after ? sql`(r.tenant_id, r.id) > (${after.tenantId}::uuid, ${after.id}::uuid)` : sql`true`}
          order by r.tenant_id, r.id limit ${BATCH}`.execute(trx)
      ).rows;
      for (const row of rows) {
        const mirror = row.mirror!;
        const expected = restoreChangeEvent(
          row,
          await restoreRepository.summarize(trx, row.tenant_id, row.id),
        );
        const problems = compare(row, expected);
        const marked = (mirror as { divergence?: unknown }).divergence != null;
        report.checked++;
        if (problems.length > 0) {
          report.divergent++;
          const detail = `the restore record and its mirror disagree: ${problems.join('; ')}`;
          if (await mirrorRepository.setDivergence(trx, row.tenant_id, mirror.id, detail)) report.marked++;
        } else if (marked && (await mirrorRepository.setDivergence(trx, row.tenant_id, mirror.id, null))) {
          report.cleared++;
        }
      }
      return rows;
    });
    const last = page.at(-1);
    if (!last || page.length < BATCH) break;
    after = { tenantId: last.tenant_id, id: last.id };
  }
  return report;
}
