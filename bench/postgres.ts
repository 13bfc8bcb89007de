// The PostgreSQL part: a database of the benchmark's own on the server DATABASE_URL names (dropped
// at the end), filled by the generator; then the reads against the bare baseline, pruning under
// load, starts, and lifecycle throughput against raw SQL and bare pg-boss.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrator.ts';
import { type ApiResult, type ApiSettings, apiPhase, listRequest, startPhase } from './api.ts';
import { BENCH_SECRET_KEY, createCallers } from './fixtures.ts';
import { createTenants, generateRuns, type Plan } from './generate.ts';
import { spawnServer } from './http.ts';
import { log, round, sampleRss, withScratchDatabase } from './lib.ts';
import { type LifecycleResult, lifecycleRounds } from './lifecycle-core.ts';
import { type NoisyResult, noisyPhase } from './noisy.ts';
import { type PruneResult, prunePhase } from './prune.ts';

export type PostgresResult = {
  postgres: string;
  live: number;
  expired: number;
  generateSeconds: number;
  generateRowsPerSec: number;
  serverRssMb: number;
  api: ApiResult;
  prune: PruneResult;
  lifecycle: LifecycleResult | null;
  noisy: NoisyResult | null;
};

export type PostgresSettings = ApiSettings & {
  plan: Plan;
  lifecycleRuns: number;
  lifecycleRounds: number;
  /** Runs of the noisy neighbour's tenant (0 skips the case). */
  noisyRuns: number;
};

export async function postgresPhase(adminUrl: string, s: PostgresSettings): Promise<PostgresResult> {
  const measured = await withScratchDatabase(adminUrl, 'opsledger_bench', async (url) => {
    const database = await openDatabase({ kind: 'postgres', url });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-bench-'));
    try {
      await migrate(database);
      const version = await sql<{ v: string }>`select current_setting('server_version') as v`.execute(
        database.db,
      );
      const tenants = await createTenants(database, s.plan);
      log(
        `generate: ${s.plan.tenants} tenants × ${s.plan.perDay} runs a day × ${s.plan.days} days, a large tenant of ${s.plan.large.toLocaleString('en')}, ${s.plan.expired.toLocaleString('en')} expired`,
      );
      const gen = await generateRuns(database, s.plan, tenants);
      log(`generate: ${gen.seconds.toFixed(0)} s, ${Math.round(gen.rowsPerSec).toLocaleString('en')} rows/s`);
      const [regular, large, starter] = await createCallers(database, [
        tenants.regular[0]!,
        tenants.large,
        tenants.regular[1] ?? tenants.regular[0]!,
      ]);
      const server = await spawnServer(path.join(import.meta.dirname, 'server.ts'), {
        DATABASE_URL: url,
        DATA_DIR: dataDir,
        SECRET_KEY: BENCH_SECRET_KEY,
        LOG_LEVEL: 'warn',
        // The server's own pruner and reaper must not touch the generated rows while we measure.
        RETENTION_DAYS: '36500',
        STALE_RUN_SECONDS: '86400',
      });
      const bare = await spawnServer(path.join(import.meta.dirname, 'bare-server.ts'), { DATABASE_URL: url });
      try {
        const rss = sampleRss(server.pid);
        const reads = await apiPhase(server, bare, { regular: regular!, large: large! }, s);
        await bare.stop();
        const prune = await prunePhase(server, database, listRequest(regular!), s.seconds);
        const api = { ...reads, ...(await startPhase(server, starter!, s)) };
        const serverRssMb = round(rss.stop(), 1);
        return {
          postgres: version.rows[0]!.v,
          live: gen.live,
          expired: gen.expired,
          generateSeconds: round(gen.seconds, 1),
          generateRowsPerSec: Math.round(gen.rowsPerSec),
          serverRssMb,
          api,
          prune,
        };
      } finally {
        await bare.stop();
        await server.stop();
      }
    } finally {
      await database.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
  let lifecycle: LifecycleResult | null = null;
  if (s.lifecycleRuns > 0) {
    log(`lifecycle: ${s.lifecycleRuns} runs across 50 tenants, ${s.lifecycleRounds} round(s)`);
    lifecycle = await lifecycleRounds(adminUrl, s.lifecycleRuns, s.lifecycleRounds);
  }
  let noisy: NoisyResult | null = null;
  if (s.noisyRuns > 0)
    noisy = await noisyPhase(adminUrl, { runs: s.noisyRuns, seconds: s.seconds, rounds: s.rounds });
  return { ...measured, lifecycle, noisy };
}
