// The benchmark's results: one flat JSON object (the keys docs/BENCHMARKS.md and issue 11 name,
// plus every measurement under `detail`), and a human summary with the targets.
import type { ApiResult } from './api.ts';
import type { EmbeddedResult } from './embedded.ts';
import type { Measured } from './http.ts';
import { round } from './lib.ts';
import type { PostgresResult } from './postgres.ts';

const worst = (api: ApiResult, kind: string, c: number) =>
  Math.max(...['regular', 'large'].map((t) => api[`${t}.${kind}.c${c}`]?.p95 ?? Number.NEGATIVE_INFINITY));
const ratio = (a: number, b: number) => round(a / b, 2);

export function summarize(
  pg: PostgresResult | null,
  embedded: EmbeddedResult | null,
  meta: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...meta };
  if (pg) {
    const a = pg.api;
    const idleList = pg.prune.idle.p95;
    Object.assign(out, {
      rows: pg.live,
      expiredRows: pg.expired,
      generateRowsPerSec: pg.generateRowsPerSec,
      listP95Ms: worst(a, 'list', 10),
      listFilteredP95Ms: worst(a, 'filtered', 10),
      listDeepPageP95Ms: worst(a, 'deep', 10),
      detailP95Ms: worst(a, 'detail', 10),
      listP95MsC50: worst(a, 'list', 50),
      detailP95MsC50: worst(a, 'detail', 50),
      startP95Ms: a['start.c50']?.p95,
      startP95MsC10: a['start.c10']?.p95,
      startRps: a['start.c50']?.rps,
      listRps: a['compare.ledger.c50']?.rps,
      bareListRps: a['compare.bare.c50']?.rps,
      listRpsRatio: ratio(a['compare.ledger.c50']!.rps, a['compare.bare.c50']!.rps),
      bareListP95Ms: a['compare.bare.c50']?.p95,
      bareListP95MsC10: a['compare.bare.c10']?.p95,
      sameTenantListP95MsC10: a['compare.ledger.c10']?.p95,
      lifecycleRuns: pg.lifecycle?.runs,
      lifecyclePerSec: pg.lifecycle?.lifecyclePerSec,
      rawSqlLifecyclePerSec: pg.lifecycle?.rawSqlLifecyclePerSec,
      pgBossJobsPerSec: pg.lifecycle?.pgBossJobsPerSec,
      pgBossOneByOneJobsPerSec: pg.lifecycle?.pgBossOneByOneJobsPerSec,
      lifecycleVsRawSql: pg.lifecycle
        ? ratio(pg.lifecycle.lifecyclePerSec, pg.lifecycle.rawSqlLifecyclePerSec)
        : undefined,
      lifecycleVsPgBoss: pg.lifecycle
        ? ratio(pg.lifecycle.lifecyclePerSec, pg.lifecycle.pgBossJobsPerSec)
        : undefined,
      pruneRows: pg.prune.deleted,
      pruneRowsPerSec: pg.prune.rowsPerSec,
      pruneMaxBatchMs: pg.prune.maxBatchMs,
      pruneListP95Ms: pg.prune.during.p95,
      pruneIdleListP95Ms: idleList,
      pruneListP95Ratio: ratio(pg.prune.during.p95, idleList),
      rssMb: pg.serverRssMb,
      noisyNeighbourRuns: pg.noisy?.largeRuns,
      noisyNeighbourIdleListP95Ms: pg.noisy?.idle.p95,
      noisyNeighbourListP95Ms: pg.noisy?.loaded.p95,
      noisyNeighbourListP95Ratio: pg.noisy?.ratio,
      noisyNeighbourStatsAnswered: pg.noisy?.noisyOk,
      noisyNeighbourStatsRefused: pg.noisy?.noisyRefused,
      postgres: pg.postgres,
    });
  } else {
    out.postgres = null;
  }
  if (embedded) {
    const a = embedded.api;
    Object.assign(out, {
      ...(pg ? {} : { rows: embedded.rows }),
      embeddedRows: embedded.rows,
      embeddedListRps: a['regular.list.c50']?.rps,
      embeddedListP95Ms: a['regular.list.c10']?.p95,
      embeddedListFilteredP95Ms: a['regular.filtered.c10']?.p95,
      embeddedListDeepPageP95Ms: a['regular.deep.c10']?.p95,
      embeddedDetailP95Ms: a['regular.detail.c10']?.p95,
      embeddedIdleRssMb: embedded.idleRssMb,
      embeddedLoadRssMb: embedded.loadRssMb,
    });
  }
  out.detail = {
    ...(pg ? { postgres: compact(pg.api), prune: { idle: pg.prune.idle, during: pg.prune.during } } : {}),
    ...(embedded ? { embedded: compact(embedded.api) } : {}),
  };
  return out;
}

/** Scenario → [requests/s, p50, p95, p99], to keep the JSON line readable. */
const compact = (api: ApiResult) =>
  Object.fromEntries(
    Object.entries(api).map(([k, m]: [string, Measured]) => [k, [m.rps, m.p50, m.p95, m.p99]]),
  );

type Target = [label: string, measured: unknown, ok: boolean | null];

export function targets(r: Record<string, any>): string {
  const rows: Target[] = [];
  const t = (label: string, measured: unknown, ok: boolean) =>
    rows.push([label, measured, typeof measured === 'number' && Number.isFinite(measured) ? ok : null]);
  if (r.postgres) {
    t('list req/s at c50 ≥ 0.5× bare', r.listRpsRatio, r.listRpsRatio >= 0.5);
    t('list p95 ≤ 20 ms at c10 (worst tenant)', r.listP95Ms, r.listP95Ms <= 20);
    t('detail p95 ≤ 10 ms at c10 (worst tenant)', r.detailP95Ms, r.detailP95Ms <= 10);
    t('start p95 ≤ 25 ms at c50', r.startP95Ms, r.startP95Ms <= 25);
    t('lifecycle ≥ 0.5× raw SQL', r.lifecycleVsRawSql, r.lifecycleVsRawSql >= 0.5);
    t('lifecycle ≥ 0.7× pg-boss', r.lifecycleVsPgBoss, r.lifecycleVsPgBoss >= 0.7);
    t('list p95 during pruning ≤ 2× idle', r.pruneListP95Ratio, r.pruneListP95Ratio <= 2);
    t('pruning ≥ 50,000 rows/s', r.pruneRowsPerSec, r.pruneRowsPerSec >= 50_000);
    if (r.noisyNeighbourListP95Ratio !== undefined)
      t(
        'list p95 beside a noisy neighbour ≤ 2× idle',
        r.noisyNeighbourListP95Ratio,
        r.noisyNeighbourListP95Ratio <= 2,
      );
  }
  if (r.embeddedRows) {
    t('embedded list req/s at c50 ≥ 264', r.embeddedListRps, r.embeddedListRps >= 264);
    t('embedded idle RSS ≤ 250 MB', r.embeddedIdleRssMb, r.embeddedIdleRssMb <= 250);
  }
  const width = Math.max(...rows.map((x) => x[0].length));
  return rows
    .map(
      ([label, m, ok]) =>
        `  ${label.padEnd(width)}  ${String(m).padStart(8)}  ${ok === null ? '—' : ok ? 'met' : 'MISSED'}`,
    )
    .join('\n');
}
