import { sql } from 'kysely';
import type { Database, Trx } from '../db/database.ts';
import { NotFoundError, withDbErrors } from '../shared/errors.ts';
import { assertUuid } from '../shared/ids.ts';
import type { RunOutcome } from './tables.ts';

/**
 * The rollup the Overview reads (migrations/0013_run_daily_stats.sql, keyed by the dry-run flag
 * too since 0024): per tenant, UTC day of creation, type and dry-run flag, runs by outcome and a log-scale histogram of completed runs' durations with
 * eight buckets per doubling. Bucket 0 holds durations under 1 ms; bucket i >= 1 holds
 * [2^((i-1)/8), 2^(i/8)) ms.
 */
export const BUCKETS_PER_DOUBLING = 8;

/**
 * How far a quantile read from the histogram may be from the duration of the run at that rank:
 * the bucket's geometric middle is within 2^(1/16) - 1 of every duration in the bucket (or under
 * 1 ms off, for durations under 1 ms).
 */
export const QUANTILE_RELATIVE_ERROR = 2 ** (1 / (2 * BUCKETS_PER_DOUBLING)) - 1;

export type DailyRollupRow = {
  day: string;
  type: string;
  /** Runs whose inputs say `dryRun: true` (they change nothing), counted apart from the others. */
  dryRun: boolean;
  counts: Record<RunOutcome, number>;
  /** Runs per duration bucket; index 0 is bucket 0. */
  durations: number[];
};

/** The duration a bucket stands for: its geometric middle (0 for durations under 1 ms). */
export function bucketMiddleMs(bucket: number): number {
  return bucket <= 0 ? 0 : 2 ** ((bucket - 0.5) / BUCKETS_PER_DOUBLING);
}

/** The nearest-rank q-quantile (the run at rank ceil(q·n)) as its bucket's middle; null when empty. */
export function histogramQuantile(histogram: readonly number[], q: number): number | null {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    if (seen >= rank) return bucketMiddleMs(i);
  }
  return bucketMiddleMs(histogram.length - 1);
}

export function addHistograms(a: readonly number[], b: readonly number[]): number[] {
  const out = Array.from({ length: Math.max(a.length, b.length) }, (_, i) => (a[i] ?? 0) + (b[i] ?? 0));
  return out;
}

/** The first UTC day of a window of `days` days that ends today (today included). */
export function firstDayOf(days: number, now = new Date()): Date {
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return new Date(midnight - (days - 1) * 86_400_000);
}

/** The tenant's rollup rows from `since` (a UTC midnight) on: about one row per day and type. */
export async function readDailyRollup(trx: Trx, tenantId: string, since: Date): Promise<DailyRollupRow[]> {
  type Row = { day: string; type: string; dry_run: boolean; durations: number[] } & Record<
    RunOutcome,
    number
  >;
  const { rows } = await sql<Row>`
    select to_char(day, 'YYYY-MM-DD') as day, type, dry_run, pending, succeeded, partially_succeeded,
      failed, cancelled, durations
    from operation_run_daily_stats
    where tenant_id = ${tenantId} and day >= ${since.toISOString().slice(0, 10)}::date
    order by day, type, dry_run`.execute(trx);
  return rows
    .map((r) => ({
      day: r.day,
      type: r.type,
      dryRun: r.dry_run,
      counts: {
        pending: r.pending,
        succeeded: r.succeeded,
        partially_succeeded: r.partially_succeeded,
        failed: r.failed,
        cancelled: r.cancelled,
      },
      durations: r.durations.map(Number),
    }))
    .filter((r) => Object.values(r.counts).some((n) => n !== 0));
}

/**
 * Recomputes tenants' rollups from their runs (all tenants when none is named): after a load that
 * bypassed the triggers, or to repair. Returns the tenants and rows written.
 */
export async function rebuildDailyRollup(
  deps: { database: Database },
  tenantId?: string,
): Promise<{ tenants: number; rows: number }> {
  const only = tenantId === undefined ? null : assertUuid(tenantId, 'tenant');
  const ids = (
    await withDbErrors(() =>
      deps.database.systemTx((trx) => {
        let q = trx.selectFrom('tenants').select('id').orderBy('id');
        if (only) q = q.where('id', '=', only);
        return q.execute();
      }),
    )
  ).map((r) => r.id);
  if (only && ids.length === 0) throw new NotFoundError('no such tenant');
  let rows = 0;
  // One transaction per tenant: the rebuild briefly holds writes to the rollup, not for all tenants at once.
  for (const id of ids) {
    const r = await withDbErrors(() =>
      deps.database.systemTx((trx) =>
        sql<{ n: number }>`select operation_run_daily_stats_rebuild(${id}::uuid) as n`.execute(trx),
      ),
    );
    rows += Number(r.rows[0]?.n ?? 0);
  }
  return { tenants: ids.length, rows };
}
