// Opsledger benchmark: the plan's targets (start < 2 s, list < 200 ms) and the ledger's own
// (pickup well under a second, prune batches under a second), measured side by side on the
// embedded database and, when DATABASE_URL is set, on PostgreSQL. Medians, not means: this
// machine is shared and noisy.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { tenantRepository } from '../src/access/tenants.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { loadConfig } from '../src/main/config.ts';
import { createOpsledger } from '../src/main/opsledger.ts';
import { createLogger } from '../src/shared/logger.ts';
import { pruneRuns } from '../src/worker/maintenance.ts';
import { noopType } from './noop-type.ts';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : Number.NaN;
};
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] ?? Number.NaN;
const ms = (n: number) => `${n.toFixed(1)} ms`;

type Result = Record<string, number>;

async function benchTarget(name: string, database: Database, url: string | null): Promise<Result> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-bench-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    SECRET_KEY: 'b'.repeat(64),
    ...(url ? { DATABASE_URL: url } : {}),
  });
  const ledger = await createOpsledger({
    config,
    definitions: [noopType],
    logger: createLogger({ level: 'silent' }),
    worker: true,
    database,
  });
  const r: Result = {};
  try {
    const tenant = (await database.systemTx((trx) => tenantRepository.create(trx, { name: 'Bench' }))).id;
    // 1. start latency and pickup latency (committed start → running), one run at a time.
    const starts: number[] = [];
    const pickups: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t0 = performance.now();
      const { run } = await ledger.service.start({
        tenantId: tenant,
        type: 'test.task',
        inputs: { key: `p${i}` },
        initiator: { kind: 'system' },
      });
      const t1 = performance.now();
      starts.push(t1 - t0);
      for (;;) {
        const row = await ledger.service.getRow(tenant, run.id);
        if (row.status !== 'queued') break;
        await new Promise((res) => setTimeout(res, 2));
      }
      pickups.push(performance.now() - t1);
    }
    r.startMedianMs = median(starts);
    r.startP95Ms = p95(starts);
    r.pickupMedianMs = median(pickups);
    r.pickupP95Ms = p95(pickups);

    console.error(`[bench] ${name}: start/pickup done`);
    // 2. list on a tenant with 100,000 runs of history: first page, and page 200 by keyset vs OFFSET.
    const hist = (await database.systemTx((trx) => tenantRepository.create(trx, { name: 'History' }))).id;
    await sql`
      insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind,
                                  created_at, started_at, completed_at, max_attempts)
      select gen_random_uuid(), ${hist}, 'test.task', 'completed', (array['succeeded','failed','partially_succeeded'])[1 + g % 3],
             encode(sha256(convert_to('h' || g, 'UTF8')), 'hex'), 'schedule',
             now() - g * interval '1 minute', now() - g * interval '1 minute', now() - g * interval '1 minute' + interval '5 seconds', 1
      from generate_series(1, 100000) g`.execute(database.db);
    await sql`analyze operation_runs`.execute(database.db);
    const first: number[] = [];
    const filtered: number[] = [];
    for (let i = 0; i < 30; i++) {
      let t0 = performance.now();
      await ledger.service.list(hist, { limit: 50 });
      first.push(performance.now() - t0);
      t0 = performance.now();
      await ledger.service.list(hist, { limit: 50, outcome: 'failed' });
      filtered.push(performance.now() - t0);
    }
    r.listFirstPageMedianMs = median(first);
    r.listFilteredMedianMs = median(filtered);
    let cursor: string | null = null;
    for (let i = 0; i < 199; i++)
      cursor = (await ledger.service.list(hist, { limit: 50, cursor: cursor ?? undefined })).nextCursor;
    const keyset: number[] = [];
    const offset: number[] = [];
    for (let i = 0; i < 15; i++) {
      let t0 = performance.now();
      await ledger.service.list(hist, { limit: 50, cursor: cursor! });
      keyset.push(performance.now() - t0);
      t0 = performance.now();
      await database.tenantTx(hist, (trx) =>
        trx
          .selectFrom('operation_runs')
          .selectAll()
          .where('tenant_id', '=', hist)
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .limit(50)
          .offset(199 * 50)
          .execute(),
      );
      offset.push(performance.now() - t0);
    }
    r.listPage200KeysetMedianMs = median(keyset);
    r.listPage200OffsetMedianMs = median(offset);

    console.error(`[bench] ${name}: list done`);
    // 3. pruning 200,000 expired runs in batches of 1,000.
    await sql`
      insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind,
                                  created_at, started_at, completed_at, max_attempts)
      select gen_random_uuid(), ${hist}, 'test.task', 'completed', 'succeeded',
             encode(sha256(convert_to('old' || g, 'UTF8')), 'hex'), 'schedule',
             now() - interval '200 days', now() - interval '200 days', now() - interval '100 days', 1
      from generate_series(1, 200000) g`.execute(database.db);
    const t0 = performance.now();
    const report = await pruneRuns({ database, retentionDays: 90, batchSize: 1000, logger: ledger.logger });
    r.pruneTotalMs = performance.now() - t0;
    r.pruneDeleted = report.deleted;
    r.pruneBatches = report.batches;
    r.pruneMaxBatchMs = report.maxBatchMs;
    r.pruneMeanBatchMs = r.pruneTotalMs / report.batches;
  } finally {
    await ledger.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  console.error(`[bench] ${name} done`);
  return r;
}

const results: Record<string, Result> = {};
results.embedded = await benchTarget('embedded', await openDatabase({ kind: 'pglite-memory' }), null);
const adminUrl = process.env.DATABASE_URL;
if (adminUrl) {
  const name = `opsledger_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  try {
    results.postgres = await benchTarget(
      'postgres',
      await openDatabase({ kind: 'postgres', url: u.toString() }),
      u.toString(),
    );
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

const keys = Object.keys(results.embedded!);
const cols = Object.keys(results);
console.log(
  `\nOpsledger benchmark (${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} cores)\n`,
);
console.log(['metric'.padEnd(28), ...cols.map((c) => c.padStart(14))].join(' '));
for (const k of keys) {
  console.log(
    [
      k.padEnd(28),
      ...cols.map((c) => {
        const v = results[c]![k]!;
        return (k.endsWith('Ms') ? ms(v) : String(v)).padStart(14);
      }),
    ].join(' '),
  );
}
for (const c of cols) {
  const x = results[c]!;
  console.log(
    `\n${c}: keyset page 200 is ${(x.listPage200OffsetMedianMs! / x.listPage200KeysetMedianMs!).toFixed(1)}× faster than OFFSET; ` +
      `targets: start < 2000 ms (${x.startP95Ms! < 2000 ? 'met' : 'MISSED'} at p95), list < 200 ms (${x.listFirstPageMedianMs! < 200 ? 'met' : 'MISSED'}), ` +
      `pickup < 1000 ms (${x.pickupP95Ms! < 1000 ? 'met' : 'MISSED'} at p95), prune batch < 1000 ms (${x.pruneMaxBatchMs! < 1000 ? 'met' : 'MISSED'} worst)`,
  );
}
process.exit(0);
