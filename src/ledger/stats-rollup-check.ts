import { sql } from 'kysely';
import type { Database } from '../db/database.ts';

/** One (day, type, dry run or not) of a tenant: counts by outcome and the duration histogram. */
export type RollupCell = { day: string; type: string; dry: boolean; counts: number[]; durations: number[] };

/**
 * A tenant's daily rollup as the table holds it, and the same cells computed from its runs, in
 * one order and shape: equal when the rollup is exact. What the tests and the benchmark hold the
 * rollup to, after loads, bulk changes, pruning and rebuilds.
 */
export async function rollupAgainstRuns(
  database: Database,
  tenantId: string,
): Promise<{ raw: RollupCell[]; rollup: RollupCell[] }> {
  // A dry run, as the API describes it: its inputs say dryRun: true.
  const dry = sql`coalesce(context -> 'inputs' ->> 'dryRun' = 'true', false)`;
  const counted = await sql<{ day: string; type: string; dry: boolean; counts: number[] }>`
    select to_char((created_at at time zone 'UTC')::date, 'YYYY-MM-DD') as day, type, ${dry} as dry,
      array[count(*) filter (where outcome = 'pending'), count(*) filter (where outcome = 'succeeded'),
            count(*) filter (where outcome = 'partially_succeeded'), count(*) filter (where outcome = 'failed'),
            count(*) filter (where outcome = 'cancelled')]::int[] as counts
    from operation_runs where tenant_id = ${tenantId} group by 1, 2, 3 order by 1, 2, 3`.execute(database.db);
  const bucketed = await sql<{ day: string; type: string; dry: boolean; bucket: number; n: number }>`
    select to_char((created_at at time zone 'UTC')::date, 'YYYY-MM-DD') as day, type, ${dry} as dry,
      operation_run_duration_bucket(started_at, completed_at) as bucket, count(*)::int as n
    from operation_runs
    where tenant_id = ${tenantId} and status = 'completed' and started_at is not null
    group by 1, 2, 3, 4`.execute(database.db);
  const histograms = new Map<string, number[]>();
  for (const b of bucketed.rows) {
    const key = `${b.day} ${b.type} ${b.dry}`;
    const h = histograms.get(key) ?? [];
    for (let i = h.length; i <= b.bucket; i++) h.push(0);
    h[b.bucket] = b.n;
    histograms.set(key, h);
  }
  const raw = counted.rows.map((r) => ({
    ...r,
    durations: histograms.get(`${r.day} ${r.type} ${r.dry}`) ?? [],
  }));
  const rollup = await sql<{
    day: string;
    type: string;
    dry: boolean;
    counts: number[];
    durations: number[];
  }>`
    select to_char(day, 'YYYY-MM-DD') as day, type, dry_run as dry,
      array[pending, succeeded, partially_succeeded, failed, cancelled] as counts, durations
    from operation_run_daily_stats where tenant_id = ${tenantId} order by 1, 2, 3`.execute(database.db);
  return { raw: normalise(raw), rollup: normalise(rollup.rows) };
}

function normalise(
  rows: { day: string; type: string; dry: boolean; counts: number[]; durations: number[] | null }[],
): RollupCell[] {
  return rows
    .map((r) => ({
      day: r.day,
      type: r.type,
      dry: r.dry,
      counts: r.counts.map(Number),
      durations: trimZeros((r.durations ?? []).map(Number)),
    }))
    .filter((r) => r.counts.some((n) => n !== 0));
}

function trimZeros(a: number[]): number[] {
  let n = a.length;
  while (n > 0 && a[n - 1] === 0) n--;
  return a.slice(0, n);
}
