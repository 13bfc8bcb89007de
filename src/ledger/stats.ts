import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { withDbErrors } from '../shared/errors.ts';
import { assertUuid } from '../shared/ids.ts';
import type { OperationCatalog } from './catalog.ts';
import { boundMonitoringRead } from './repository.ts';
import { addHistograms, firstDayOf, histogramQuantile, readDailyRollup } from './stats-rollup.ts';
import type { RunOutcome } from './tables.ts';

/** Runs counted by outcome, one column per outcome; both stats queries select these. */
export const OUTCOME_COUNTS = sql`
  count(*) filter (where outcome = 'pending')::int as pending,
  count(*) filter (where outcome = 'succeeded')::int as succeeded,
  count(*) filter (where outcome = 'partially_succeeded')::int as partially_succeeded,
  count(*) filter (where outcome = 'failed')::int as failed,
  count(*) filter (where outcome = 'cancelled')::int as cancelled`;

/**
 * Whether a run is a dry run (its inputs say `dryRun: true`): it changes nothing, so the stats
 * count it apart from the work it rehearses (migration 0024).
 */
export const IS_DRY_RUN = sql<boolean>`operation_run_is_dry_run(context)`;

/** Orders stats rows by type, a type's real runs before its dry runs. */
export function byTypeThenDryRun(a: { type: string; dryRun: boolean }, b: { type: string; dryRun: boolean }) {
  return a.type < b.type ? -1 : a.type > b.type ? 1 : Number(a.dryRun) - Number(b.dryRun);
}

/** The columns of OUTCOME_COUNTS as the API's `counts`. */
export function outcomeCounts(r: Record<RunOutcome, number>): Record<RunOutcome, number> {
  return {
    pending: r.pending,
    succeeded: r.succeeded,
    partially_succeeded: r.partially_succeeded,
    failed: r.failed,
    cancelled: r.cancelled,
  };
}

export const STATS_WINDOWS = { '24h': 24, '7d': 7 * 24, '30d': 30 * 24 } as const;
export type StatsWindow = keyof typeof STATS_WINDOWS;

export type TypeStats = {
  type: string;
  typeLabel: string;
  /** A type's dry runs are a row of their own, never part of its other row. */
  dryRun: boolean;
  total: number;
  counts: Record<RunOutcome, number>;
  p50DurationMs: number | null;
  p95DurationMs: number | null;
};

/**
 * Per type (and per type's dry runs, apart), the runs created in the window: counts by outcome and
 * p50/p95 of the duration of those that completed. The day windows (7d, 30d: that many UTC days, today included) read the
 * daily rollup, about one row per day and type, whatever the tenant's size; their percentiles
 * come from its log-scale histogram, within QUANTILE_RELATIVE_ERROR (4.5%) of the nearest-rank
 * run. The 24h window, at most a day of runs on the (tenant_id, created_at) index, is computed
 * exactly from the runs.
 */
export async function runStats(
  deps: { database: Database; catalog: OperationCatalog },
  tenantId: string,
  window: StatsWindow,
): Promise<{ window: StatsWindow; since: string; data: TypeStats[] }> {
  const t = assertUuid(tenantId, 'tenant');
  if (window !== '24h') {
    const since = firstDayOf(STATS_WINDOWS[window] / 24);
    const rows = await withDbErrors(() =>
      deps.database.tenantReadTx(t, async (trx) => {
        await boundMonitoringRead(trx);
        return readDailyRollup(trx, t, since);
      }),
    );
    type Acc = { type: string; dryRun: boolean; counts: Record<RunOutcome, number>; durations: number[] };
    const byType = new Map<string, Acc>();
    for (const r of rows) {
      const key = `${r.type} ${r.dryRun}`;
      const acc = byType.get(key);
      if (!acc)
        byType.set(key, { type: r.type, dryRun: r.dryRun, counts: { ...r.counts }, durations: r.durations });
      else {
        for (const k of Object.keys(acc.counts) as RunOutcome[]) acc.counts[k] += r.counts[k];
        acc.durations = addHistograms(acc.durations, r.durations);
      }
    }
    const ms = (v: number | null) => (v === null ? null : Math.round(v));
    return {
      window,
      since: since.toISOString(),
      data: [...byType.values()]
        .sort(byTypeThenDryRun)
        .map((acc) => ({
          type: acc.type,
          typeLabel: deps.catalog.label(acc.type),
          dryRun: acc.dryRun,
          total: Object.values(acc.counts).reduce((a, b) => a + b, 0),
          counts: acc.counts,
          p50DurationMs: ms(histogramQuantile(acc.durations, 0.5)),
          p95DurationMs: ms(histogramQuantile(acc.durations, 0.95)),
        }))
        .filter((r) => r.total > 0),
    };
  }
  const since = new Date(Date.now() - STATS_WINDOWS[window] * 3600_000);
  type Row = {
    type: string;
    dry_run: boolean;
    total: number;
    pending: number;
    succeeded: number;
    partially_succeeded: number;
    failed: number;
    cancelled: number;
    p50: number | null;
    p95: number | null;
  };
  const duration = sql`extract(epoch from (completed_at - started_at)) * 1000`;
  const rows = await withDbErrors(() =>
    deps.database.tenantReadTx(t, async (trx) => {
      await boundMonitoringRead(trx);
      const result = await sql<Row>`
        select type, ${IS_DRY_RUN} as dry_run,
          count(*)::int as total,
          ${OUTCOME_COUNTS},
          percentile_cont(0.5) within group (order by ${duration})
            filter (where status = 'completed' and started_at is not null) as p50,
          percentile_cont(0.95) within group (order by ${duration})
            filter (where status = 'completed' and started_at is not null) as p95
        from operation_runs
        where tenant_id = ${t} and created_at >= ${since}
        group by 1, 2
        order by 1, 2`.execute(trx);
      return result.rows;
    }),
  );
  const ms = (v: number | string | null) => (v === null ? null : Math.round(Number(v)));
  return {
    window,
    since: since.toISOString(),
    data: rows.map((r) => ({
      type: r.type,
      typeLabel: deps.catalog.label(r.type),
      dryRun: r.dry_run,
      total: r.total,
      counts: outcomeCounts(r),
      p50DurationMs: ms(r.p50),
      p95DurationMs: ms(r.p95),
    })),
  };
}
