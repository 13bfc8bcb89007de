import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { withDbErrors } from '../shared/errors.ts';
import { assertUuid } from '../shared/ids.ts';
import { boundMonitoringRead } from './repository.ts';
import { IS_DRY_RUN, OUTCOME_COUNTS, outcomeCounts, STATS_WINDOWS, type StatsWindow } from './stats.ts';
import { firstDayOf, readDailyRollup } from './stats-rollup.ts';
import type { RunOutcome } from './tables.ts';

export type DailyCounts = { day: string; type: string; dryRun: boolean; counts: Record<RunOutcome, number> };

/**
 * Runs created per UTC day and type (a type's dry runs apart) over a stats window, by outcome: the
 * overview's stacked bars.
 * The day windows read the daily rollup (one row per day and type); 24h groups its runs, at most a
 * day's, on the (tenant_id, created_at) index.
 */
export async function runDailyCounts(
  deps: { database: Database },
  tenantId: string,
  window: StatsWindow,
): Promise<DailyCounts[]> {
  const t = assertUuid(tenantId, 'tenant');
  if (window !== '24h') {
    const rows = await withDbErrors(() =>
      deps.database.tenantReadTx(t, async (trx) => {
        await boundMonitoringRead(trx);
        return readDailyRollup(trx, t, firstDayOf(STATS_WINDOWS[window] / 24));
      }),
    );
    return rows.map((r) => ({ day: r.day, type: r.type, dryRun: r.dryRun, counts: r.counts }));
  }
  const since = new Date(Date.now() - STATS_WINDOWS[window] * 3600_000);
  type Row = { day: string; type: string; dry_run: boolean } & Record<RunOutcome, number>;
  const rows = await withDbErrors(() =>
    deps.database.tenantReadTx(t, async (trx) => {
      await boundMonitoringRead(trx);
      const result = await sql<Row>`
        select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day, type, ${IS_DRY_RUN} as dry_run,
          ${OUTCOME_COUNTS}
        from operation_runs
        where tenant_id = ${t} and created_at >= ${since}
        group by 1, 2, 3
        order by 1, 2, 3`.execute(trx);
      return result.rows;
    }),
  );
  return rows.map((r) => ({
    day: r.day,
    type: r.type,
    dryRun: r.dry_run,
    counts: outcomeCounts(r),
  }));
}
