import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { withDbErrors } from '../shared/errors.ts';
import { assertUuid } from '../shared/ids.ts';
import { boundMonitoringRead } from './repository.ts';
import type { RunRow } from './run.ts';
import { IS_DRY_RUN, OUTCOME_COUNTS, outcomeCounts, STATS_WINDOWS, type StatsWindow } from './stats.ts';
import type { RunOutcome } from './tables.ts';

export type FailureRate = {
  type: string;
  /** A type's dry runs have a rate of their own: a failed rehearsal is not a failed restore. */
  dryRun: boolean;
  total: number;
  failed: number;
  /** The same counts over the window before this one, for the trend. */
  previousTotal: number;
  previousFailed: number;
};

export type Insights = {
  failureRates: FailureRate[];
  slowest: RunRow[];
  recentFailures: RunRow[];
  /** Runs per hour and type (dry runs apart) by outcome; only for the 24 h window (days are too coarse there). */
  hours: { hour: string; type: string; dryRun: boolean; counts: Record<RunOutcome, number> }[];
};

const LIST_SIZE = 5;

/**
 * What the Overview needs to answer "is something wrong?": failure rate per type (a type's dry runs
 * apart) against the previous window, the slowest and the most recently failed runs, and hourly counts for 24 h.
 * Bounded reads of one tenant's window (the created_at index), each named by its tenant.
 */
export async function runInsights(
  deps: { database: Database },
  tenantId: string,
  window: StatsWindow,
): Promise<Insights> {
  const t = assertUuid(tenantId, 'tenant');
  const span = STATS_WINDOWS[window] * 3600_000;
  const now = Date.now();
  const since = new Date(now - span);
  const before = new Date(now - 2 * span);
  return withDbErrors(() =>
    deps.database.tenantReadTx(t, async (trx) => {
      await boundMonitoringRead(trx);
      const rates = await sql<{
        type: string;
        dry_run: boolean;
        total: number;
        failed: number;
        previous_total: number;
        previous_failed: number;
      }>`
        select type, ${IS_DRY_RUN} as dry_run,
          count(*) filter (where created_at >= ${since})::int as total,
          count(*) filter (where created_at >= ${since} and outcome = 'failed')::int as failed,
          count(*) filter (where created_at < ${since})::int as previous_total,
          count(*) filter (where created_at < ${since} and outcome = 'failed')::int as previous_failed
        from operation_runs
        where tenant_id = ${t} and created_at >= ${before}
        group by 1, 2
        order by 1, 2`.execute(trx);
      const slowest = await sql<RunRow>`
        select * from operation_runs
        where tenant_id = ${t} and created_at >= ${since} and status = 'completed'
          and started_at is not null
        order by completed_at - started_at desc, id desc
        limit ${LIST_SIZE}`.execute(trx);
      const failures = await sql<RunRow>`
        select * from operation_runs
        where tenant_id = ${t} and created_at >= ${since} and outcome = 'failed'
        order by completed_at desc, id desc
        limit ${LIST_SIZE}`.execute(trx);
      const hours =
        window === '24h'
          ? await sql<{ hour: string; type: string; dry_run: boolean } & Record<RunOutcome, number>>`
              select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24') || ':00Z' as hour, type,
                ${IS_DRY_RUN} as dry_run, ${OUTCOME_COUNTS}
              from operation_runs
              where tenant_id = ${t} and created_at >= ${since}
              group by 1, 2, 3
              order by 1, 2, 3`.execute(trx)
          : { rows: [] };
      return {
        failureRates: rates.rows
          .filter((r) => r.total > 0)
          .map((r) => ({
            type: r.type,
            dryRun: r.dry_run,
            total: r.total,
            failed: r.failed,
            previousTotal: r.previous_total,
            previousFailed: r.previous_failed,
          })),
        slowest: slowest.rows,
        recentFailures: failures.rows,
        hours: hours.rows.map((r) => ({
          hour: r.hour,
          type: r.type,
          dryRun: r.dry_run,
          counts: outcomeCounts(r),
        })),
      };
    }),
  );
}
