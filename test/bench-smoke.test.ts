import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { onPostgres } from './helpers/target.ts';

/**
 * `npm run bench` end to end on a small plan: every PostgreSQL phase runs (data, API beside the
 * bare server, pruning, starts, lifecycle beside raw SQL and pg-boss) and the JSON line the issue
 * asks for comes last. What it measures is not asserted here (timing belongs to the benchmark);
 * that it runs, reports every figure, pruned exactly the expired runs and left no database behind
 * is. PostgreSQL pass only: the benchmark makes databases of its own on the server.
 */
const ROOT = path.resolve(import.meta.dirname, '..');
if (!onPostgres())
  console.log('[bench-smoke] skipped: the benchmark runs against PostgreSQL (PostgreSQL pass only)');

const benchDatabases = async (url: string, pid: number) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ datname: string }>(
      `select datname from pg_database where datname ~ $1`,
      [`^opsledger_(bench|lifecycle)_${pid}_`],
    );
    return rows.map((r) => r.datname);
  } finally {
    await c.end();
  }
};

describe.runIf(onPostgres())('the benchmark', () => {
  it('runs every PostgreSQL phase on a small plan and prints its JSON line last', {
    timeout: 360_000,
  }, async () => {
    const url = process.env.DATABASE_URL!;
    const child = spawn(
      process.execPath,
      [
        'bench/run.ts',
        '--quick',
        '--json',
        ...[
          '--rows',
          '3000',
          '--seconds',
          '0.25',
          '--rounds',
          '1',
          '--lifecycle-runs',
          '20',
          '--noisy-runs',
          '3000',
          '--rollup-runs',
          '3000',
        ],
        '--skip-embedded',
      ],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr.slice(-2000)).toBe(0);

    const last = stdout.trimEnd().split('\n').at(-1)!;
    const r = JSON.parse(last) as Record<string, unknown>;
    const measured = [
      'listP95Ms',
      'listFilteredP95Ms',
      'listDeepPageP95Ms',
      'detailP95Ms',
      'startP95Ms',
      'listRps',
      'bareListRps',
      'lifecyclePerSec',
      'rawSqlLifecyclePerSec',
      'pgBossJobsPerSec',
      'pruneRowsPerSec',
      'pruneListP95Ms',
      'rssMb',
      'noisyNeighbourListP95Ratio',
      'rollupLoadSeconds',
      'rollupPruneSeconds',
      'rollupRebuildSeconds',
    ];
    // A window in which nothing completed reports null, never a made-up number.
    for (const key of measured) {
      expect(key in r, key).toBe(true);
      expect(r[key] === null || (typeof r[key] === 'number' && Number.isFinite(r[key])), key).toBe(true);
    }
    expect(r.node).toBe(process.version);
    expect(r.postgres).toMatch(/^\d+\.\d+/);
    expect(r.quick).toBe(true);
    // The daily rollup equalled its runs after a load, bulk changes, pruning and a rebuild.
    expect(r.rollupRuns).toBe(3000);
    expect(r.rollupExact).toBe(true);
    expect(r.rows).toBeGreaterThan(0);
    expect(r.lifecycleRuns).toBe(20);
    // The pruner deleted every expired run, and past them at most live runs of the oldest of the
    // 90 days, those that crossed the retention cutoff while the benchmark ran.
    const expired = r.expiredRows as number;
    expect(expired).toBeGreaterThan(0);
    expect(r.pruneRows).toBeGreaterThanOrEqual(expired);
    expect(r.pruneRows).toBeLessThanOrEqual(expired + Math.ceil((r.rows as number) / 90));
    // Its own databases are gone.
    expect(await benchDatabases(url, child.pid!)).toEqual([]);
  });
});
