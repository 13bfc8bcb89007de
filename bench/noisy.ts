// The noisy neighbour (issue 19): in a database of its own, a tenant of 300,000 runs over 30 days
// beside ordinary tenants. Another tenant's list (first page of 50, 10 connections) is measured
// idle, then while the large tenant's viewer keeps 24 requests for 30-day statistics in flight
// without pause. The server runs the product's limits on expensive reads (only the per-caller
// request budgets are lifted, as everywhere in the benchmark); the figure is the ratio of the two
// p95s, the medians of the rounds. The generator writes with triggers off, so the daily rollup
// the statistics read is rebuilt afterwards, as after any such load (`opsledger stats:rebuild`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrator.ts';
import { medianOf } from './api.ts';
import { BENCH_SECRET_KEY, createCallers } from './fixtures.ts';
import { createTenants, generateRuns } from './generate.ts';
import { cannon, fmt, type Measured, measure, type Request, spawnServer } from './http.ts';
import { log, round, sleep, withScratchDatabase } from './lib.ts';

export type NoisyResult = {
  largeRuns: number;
  idle: Measured;
  loaded: Measured;
  /** The noisy viewer's statistics answered, and refused with 429, during the loaded rounds. */
  noisyOk: number;
  noisyRefused: number;
  ratio: number;
};

export async function noisyPhase(
  adminUrl: string,
  s: { runs: number; seconds: number; rounds: number },
): Promise<NoisyResult> {
  return withScratchDatabase(adminUrl, 'opsledger_bench', async (url) => {
    const database = await openDatabase({ kind: 'postgres', url });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-bench-'));
    try {
      await migrate(database);
      const plan = { tenants: 10, perDay: 100, days: 30, large: s.runs, expired: 0 };
      log(
        `noisy: a tenant of ${s.runs.toLocaleString('en')} runs over 30 days beside ${plan.tenants} of 3,000`,
      );
      const tenants = await createTenants(database, plan);
      await generateRuns(database, plan, tenants);
      const [quiet, noisy] = await createCallers(
        database,
        [tenants.regular[0]!, tenants.large],
        ['operator', 'viewer'],
      );
      const server = await spawnServer(path.join(import.meta.dirname, 'server.ts'), {
        DATABASE_URL: url,
        DATA_DIR: dataDir,
        SECRET_KEY: BENCH_SECRET_KEY,
        LOG_LEVEL: 'warn',
        RETENTION_DAYS: '36500',
        STALE_RUN_SECONDS: '86400',
        BENCH_PRODUCT_EXPENSIVE_READS: '1',
      });
      try {
        const list: Request = {
          path: `/api/v1/tenants/${quiet!.tenantId}/operations?limit=50`,
          headers: { authorization: `Bearer ${quiet!.token}` },
        };
        const stats: Request = {
          path: `/api/v1/tenants/${noisy!.tenantId}/operations/stats?window=30d`,
          headers: { authorization: `Bearer ${noisy!.token}` },
        };
        log('noisy: warm-up');
        await measure({ url: server.url, connections: 10, seconds: 1, request: list });
        await measure({ url: server.url, connections: 4, seconds: 1, request: stats });
        const idle: Measured[] = [];
        const loaded: Measured[] = [];
        let noisyOk = 0;
        let noisyRefused = 0;
        for (let r = 1; r <= s.rounds; r++) {
          idle.push(await measure({ url: server.url, connections: 10, seconds: s.seconds, request: list }));
          log(`noisy: round ${r}, idle list      ${fmt(idle.at(-1)!)}`);
          const flood = cannon({ url: server.url, connections: 24, seconds: s.seconds + 60, request: stats });
          await sleep(500);
          loaded.push(await measure({ url: server.url, connections: 10, seconds: s.seconds, request: list }));
          flood.stop();
          const f = await flood.done;
          noisyOk += f.ok;
          noisyRefused += f.errors;
          log(
            `noisy: round ${r}, list under flood ${fmt(loaded.at(-1)!)}; stats ${f.ok} answered, ${f.errors} refused`,
          );
        }
        const i = medianOf(idle);
        const l = medianOf(loaded);
        return {
          largeRuns: s.runs,
          idle: i,
          loaded: l,
          noisyOk,
          noisyRefused,
          ratio: round(l.p95 / i.p95, 2),
        };
      } finally {
        await server.stop();
      }
    } finally {
      await database.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
}
