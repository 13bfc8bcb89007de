// Lifecycle throughput under a backlog, side by side in one run on one PostgreSQL server:
//   ledger  — Opsledger start → worker → complete with a trivial handler, runs across 50 tenants;
//   boss    — bare pg-boss send → work → complete with the same worker concurrency;
//   raw SQL — the ledger's three statements (insert queued, update running, update completed) from
//             20 clients: what PostgreSQL itself can do for this lifecycle on this machine.
// Each contender gets a fresh database; rounds are interleaved so a noisy moment hurts all alike.
import os from 'node:os';
import { sql } from 'kysely';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { tenantRepository } from '../src/access/tenants.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrator.ts';
import { loadConfig } from '../src/main/config.ts';
import { createOpsledger } from '../src/main/opsledger.ts';
import { createLogger } from '../src/shared/logger.ts';
import { log, median, pool, waitFor, withScratchDatabase } from './lib.ts';
import { noopType } from './noop-type.ts';

export const TENANTS = 50;
export const CLIENTS = 20;

async function ledgerThroughput(url: string, runs: number): Promise<number> {
  const database = await openDatabase({ kind: 'postgres', url });
  const config = loadConfig({ DATABASE_URL: url, SECRET_KEY: 'b'.repeat(64), DATA_DIR: os.tmpdir() });
  const ledger = await createOpsledger({
    config,
    definitions: [noopType],
    logger: createLogger({ level: 'silent' }),
    worker: true,
    database,
  });
  try {
    const tenants: string[] = [];
    for (let i = 0; i < TENANTS; i++) {
      tenants.push((await database.systemTx((trx) => tenantRepository.create(trx, { name: `T${i}` }))).id);
    }
    const t0 = performance.now();
    await pool(runs, CLIENTS, async (i) => {
      await ledger.service.start({
        tenantId: tenants[i % TENANTS]!,
        type: 'test.task',
        inputs: { key: `k${i}` },
        initiator: { kind: 'system' },
      });
    });
    await waitFor(async () => {
      const r = await sql<{
        n: number;
      }>`select count(*)::int as n from operation_runs where status = 'completed'`.execute(database.db);
      return r.rows[0]!.n >= runs;
    });
    return runs / ((performance.now() - t0) / 1000);
  } finally {
    await ledger.close();
  }
}

/**
 * Bare pg-boss. `batched`: its own high-throughput setting (batches of 10 fetched back to back while
 * they come full), the headline baseline. Otherwise the shape of the ledger's worker: one job per
 * fetch, 8 pollers, at most 4 jobs of one group (tenant) at once, and a poller that found a job
 * fetches again at once (as RunWorker does), so the two differ only in what is done per job.
 */
async function bossThroughput(url: string, runs: number, batched = true): Promise<number> {
  const boss = new PgBoss({ connectionString: url, max: 4, useListenNotify: true, persistWarnings: false });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('bare', { notify: true, retryLimit: 0 });
  let done = 0;
  try {
    const t0 = performance.now();
    await pool(runs, CLIENTS, async (i) => {
      await boss.send('bare', { i }, batched ? {} : { group: { id: `t${i % TENANTS}` } });
    });
    if (batched) {
      await boss.work(
        'bare',
        { localConcurrency: 8, batchSize: 10, burstWhenBatchFull: true, pollingIntervalSeconds: 2 },
        async (jobs) => {
          done += jobs.length;
        },
      );
    } else {
      await boss.work(
        'bare',
        { localConcurrency: 8, localGroupConcurrency: 4, batchSize: 1, pollingIntervalSeconds: 2 },
        async (jobs) => {
          done += jobs.length;
          for (const w of boss.getWipData()) if (w.name === 'bare' && w.count > 0) boss.notifyWorker(w.id);
        },
      );
    }
    await waitFor(async () => done >= runs);
    return runs / ((performance.now() - t0) / 1000);
  } finally {
    await boss.stop({ graceful: false, close: true });
  }
}

async function rawSqlThroughput(url: string, runs: number): Promise<number> {
  const database = await openDatabase({ kind: 'postgres', url });
  await migrate(database);
  const tenant = (await database.systemTx((trx) => tenantRepository.create(trx, { name: 'Raw' }))).id;
  await database.close();
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  try {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        while (next < runs) {
          const i = next++;
          const { rows } = await c.query(
            `insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind, max_attempts)
             values (gen_random_uuid(), $1, 'test.task', 'queued', 'pending', encode(sha256(convert_to($2, 'UTF8')), 'hex'), 'system', 1) returning id`,
            [tenant, `raw${i}`],
          );
          const id = rows[0].id;
          await c.query(
            `update operation_runs set status = 'running', started_at = now(), attempts = attempts + 1
             where tenant_id = $1 and id = $2 and status = 'queued'`,
            [tenant, id],
          );
          await c.query(
            `update operation_runs set status = 'completed', outcome = 'succeeded', completed_at = now()
             where tenant_id = $1 and id = $2 and status = 'running'`,
            [tenant, id],
          );
        }
      }),
    );
    return runs / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

export type LifecycleResult = {
  runs: number;
  tenants: number;
  rounds: number;
  lifecyclePerSec: number;
  pgBossJobsPerSec: number;
  /** Bare pg-boss in the ledger worker's shape (one job per fetch, 8 pollers, 4 per tenant). */
  pgBossOneByOneJobsPerSec: number;
  rawSqlLifecyclePerSec: number;
};

export async function lifecycleRounds(
  adminUrl: string,
  runs: number,
  roundCount: number,
): Promise<LifecycleResult> {
  const rounds = {
    ledger: [] as number[],
    boss: [] as number[],
    bossOne: [] as number[],
    raw: [] as number[],
  };
  const scratch = <T>(fn: (url: string) => Promise<T>) =>
    withScratchDatabase(adminUrl, 'opsledger_lifecycle', fn);
  for (let round = 0; round < roundCount; round++) {
    rounds.raw.push(await scratch((url) => rawSqlThroughput(url, runs)));
    rounds.boss.push(await scratch((url) => bossThroughput(url, runs)));
    rounds.bossOne.push(await scratch((url) => bossThroughput(url, runs, false)));
    rounds.ledger.push(await scratch((url) => ledgerThroughput(url, runs)));
    log(
      `lifecycle: round ${round + 1}/${roundCount}: ledger ${rounds.ledger.at(-1)!.toFixed(0)}/s, pg-boss ${rounds.boss.at(-1)!.toFixed(0)}/s (one by one ${rounds.bossOne.at(-1)!.toFixed(0)}/s), raw SQL ${rounds.raw.at(-1)!.toFixed(0)}/s`,
    );
  }
  return {
    runs,
    tenants: TENANTS,
    rounds: roundCount,
    lifecyclePerSec: Math.round(median(rounds.ledger)),
    pgBossJobsPerSec: Math.round(median(rounds.boss)),
    pgBossOneByOneJobsPerSec: Math.round(median(rounds.bossOne)),
    rawSqlLifecyclePerSec: Math.round(median(rounds.raw)),
  };
}
