// The embedded database (no DATABASE_URL; PGlite in the server process, data in a temporary
// DATA_DIR): the same reads at 100,000 runs, and the server's resident memory idle and under load.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrator.ts';
import { type ApiResult, apiPhase } from './api.ts';
import { BENCH_SECRET_KEY, createCallers } from './fixtures.ts';
import { createTenants, generateRuns, planFor } from './generate.ts';
import { spawnServer } from './http.ts';
import { log, round, rssMb, sampleRss, sleep } from './lib.ts';

export type EmbeddedResult = {
  rows: number;
  generateRowsPerSec: number;
  idleRssMb: number;
  loadRssMb: number;
  api: ApiResult;
};

export async function embeddedPhase(rows: number, seconds: number, rounds: number): Promise<EmbeddedResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-bench-'));
  try {
    log(`embedded: generating ${rows.toLocaleString('en')} runs in ${dataDir}`);
    const database = await openDatabase({ kind: 'pglite', dataDir });
    const plan = planFor(rows, 0);
    let gen: Awaited<ReturnType<typeof generateRuns>>;
    let callers: Awaited<ReturnType<typeof createCallers>>;
    try {
      await migrate(database);
      const tenants = await createTenants(database, plan);
      gen = await generateRuns(database, plan, tenants);
      callers = await createCallers(database, [tenants.regular[0]!]);
    } finally {
      await database.close();
    }
    const server = await spawnServer(path.join(import.meta.dirname, 'server.ts'), {
      DATABASE_URL: '',
      DATA_DIR: dataDir,
      SECRET_KEY: BENCH_SECRET_KEY,
      LOG_LEVEL: 'warn',
      RETENTION_DAYS: '36500',
      STALE_RUN_SECONDS: '86400',
    });
    try {
      // Idle: started, settled, a full collection, settled again.
      await sleep(2000);
      await server.gc();
      await sleep(500);
      const idleRssMb = round(rssMb(server.pid), 1);
      log(`embedded: idle RSS ${idleRssMb} MB`);
      const sampler = sampleRss(server.pid);
      const api = await apiPhase(
        server,
        null,
        { regular: callers[0]!, large: null },
        { seconds, rounds, largeConnections: [] },
      );
      const loadRssMb = round(sampler.stop(), 1);
      log(`embedded: RSS under load (peak) ${loadRssMb} MB`);
      return { rows: gen.live, generateRowsPerSec: Math.round(gen.rowsPerSec), idleRssMb, loadRssMb, api };
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
