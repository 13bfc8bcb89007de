// Pruning under load: the product's pruner (pruneRuns, as the worker's nightly job and `opsledger
// prune` run it) deletes the expired rows while autocannon requests a tenant's first page at 10
// connections; the list's p95 then is set against its p95 just before, with nothing pruning.
import type { Database } from '../src/db/database.ts';
import { createLogger } from '../src/shared/logger.ts';
import { pruneRuns } from '../src/worker/maintenance.ts';
import { type Child, cannon, fmt, type Measured, measure, type Request } from './http.ts';
import { log, round } from './lib.ts';

export type PruneResult = {
  deleted: number;
  seconds: number;
  rowsPerSec: number;
  batches: number;
  maxBatchMs: number;
  idle: Measured;
  during: Measured;
};

export async function prunePhase(
  server: Child,
  database: Database,
  list: Request,
  seconds: number,
): Promise<PruneResult> {
  const idle = await measure({ url: server.url, connections: 10, seconds, request: list });
  log(`prune: list while idle        ${fmt(idle)}`);
  // Long enough for any pruning; stopped when the pruner returns.
  const load = cannon({ url: server.url, connections: 10, seconds: 3600, request: list });
  const t0 = performance.now();
  const report = await pruneRuns({
    database,
    retentionDays: 90,
    logger: createLogger({ level: 'silent' }),
  });
  const took = (performance.now() - t0) / 1000;
  load.stop();
  const during = await load.done;
  log(`prune: list while pruning     ${fmt(during)}`);
  const result = {
    deleted: report.deleted,
    seconds: round(took, 1),
    rowsPerSec: Math.round(report.deleted / took),
    batches: report.batches,
    maxBatchMs: round(report.maxBatchMs, 1),
    idle,
    during,
  };
  log(
    `prune: ${result.deleted.toLocaleString('en')} rows in ${result.seconds} s (${result.rowsPerSec.toLocaleString('en')}/s), ${result.batches} batches, worst ${result.maxBatchMs} ms`,
  );
  return result;
}
