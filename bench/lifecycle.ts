// Lifecycle throughput under a backlog, side by side in one run on one PostgreSQL server:
//   ledger  — Opsledger start → worker → complete with a trivial handler, runs across 50 tenants;
//   boss    — bare pg-boss send → work → complete with the same worker concurrency;
//   raw SQL — the ledger's three statements (insert queued, update running, update completed) from
//             20 clients: what PostgreSQL itself can do for this lifecycle on this machine.
// Usage: DATABASE_URL=postgres://… node bench/lifecycle.ts [--runs N] [--json]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { tenantRepository } from '../src/access/tenants.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrator.ts';
import { loadConfig } from '../src/main/config.ts';
import { createOpsledger } from '../src/main/opsledger.ts';
import { createLogger } from '../src/shared/logger.ts';
import { noopType } from './noop-type.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '1000' }, json: { type: 'boolean' } },
});
const RUNS = Number(values.runs);
const TENANTS = 50;
const CLIENTS = 20;
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  console.error(
    'bench/lifecycle: set DATABASE_URL to a PostgreSQL server (it creates and drops its own databases)',
  );
  process.exit(2);
}

async function withScratchDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `opsledger_lifecycle_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const u = new URL(adminUrl!);
  u.pathname = `/${name}`;
  try {
    return await fn(u.toString());
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `fn(i)` for i in 0..n-1 with at most `width` in flight. */
async function pool(n: number, width: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function ledgerThroughput(url: string): Promise<number> {
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
    await pool(RUNS, CLIENTS, async (i) => {
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
      return r.rows[0]!.n >= RUNS;
    });
    return RUNS / ((performance.now() - t0) / 1000);
  } finally {
    await ledger.close();
  }
}

async function bossThroughput(url: string): Promise<number> {
  const boss = new PgBoss({ connectionString: url, max: 4, useListenNotify: true, persistWarnings: false });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('bare', { notify: true, retryLimit: 0 });
  let done = 0;
  try {
    const t0 = performance.now();
    await pool(RUNS, CLIENTS, async (i) => {
      await boss.send('bare', { i });
    });
    // pg-boss's own high-throughput setting: batches of 10, fetched back to back while they come full.
    await boss.work(
      'bare',
      { localConcurrency: 8, batchSize: 10, burstWhenBatchFull: true, pollingIntervalSeconds: 2 },
      async (jobs) => {
        done += jobs.length;
      },
    );
    await waitFor(async () => done >= RUNS);
    return RUNS / ((performance.now() - t0) / 1000);
  } finally {
    await boss.stop({ graceful: false, close: true });
  }
}

async function rawSqlThroughput(url: string): Promise<number> {
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
        while (next < RUNS) {
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
    return RUNS / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

// Interleaved rounds, so a noisy moment hurts every contender alike; medians of the rounds.
const rounds = { ledger: [] as number[], boss: [] as number[], raw: [] as number[] };
for (let round = 0; round < 3; round++) {
  rounds.raw.push(await withScratchDatabase(rawSqlThroughput));
  rounds.boss.push(await withScratchDatabase(bossThroughput));
  rounds.ledger.push(await withScratchDatabase(ledgerThroughput));
  console.error(
    `[lifecycle] round ${round + 1}: ledger ${rounds.ledger.at(-1)!.toFixed(0)}/s, pg-boss ${rounds.boss.at(-1)!.toFixed(0)}/s, raw SQL ${rounds.raw.at(-1)!.toFixed(0)}/s`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const result = {
  runs: RUNS,
  tenants: TENANTS,
  lifecyclePerSec: Math.round(median(rounds.ledger)),
  pgBossJobsPerSec: Math.round(median(rounds.boss)),
  rawSqlLifecyclePerSec: Math.round(median(rounds.raw)),
};
console.log(
  `lifecycle, ${RUNS} runs across ${TENANTS} tenants (medians of 3 interleaved rounds): ledger ${result.lifecyclePerSec}/s, ` +
    `bare pg-boss ${result.pgBossJobsPerSec}/s, raw SQL ${result.rawSqlLifecyclePerSec}/s; ledger = ` +
    `${(result.lifecyclePerSec / result.rawSqlLifecyclePerSec).toFixed(3)}× raw SQL, ` +
    `${(result.lifecyclePerSec / result.pgBossJobsPerSec).toFixed(2)}× pg-boss`,
);
if (values.json) console.log(JSON.stringify(result));
process.exit(0);
