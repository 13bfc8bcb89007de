// The daily rollup at volume (issue 19): in a database of its own, a tenant of N runs (300,000 by
// default) over 35 days is loaded in bulk statements with the triggers on, then bulk transitions
// complete and cancel its active runs, the pruner deletes the oldest five days, and a rebuild
// recomputes it. After each step the rollup must equal the same cells computed from the runs
// (src/ledger/stats-rollup-check.ts); any difference fails the benchmark. Reports how long each
// step took: the triggers' cost on a bulk load, the pruner's and a rebuild's.
import { sql } from 'kysely';
import { tenantRepository } from '../src/access/tenants.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrator.ts';
import { rebuildDailyRollup } from '../src/ledger/stats-rollup.ts';
import { rollupAgainstRuns } from '../src/ledger/stats-rollup-check.ts';
import { createLogger } from '../src/shared/logger.ts';
import { pruneRuns } from '../src/worker/maintenance.ts';
import { log, withScratchDatabase } from './lib.ts';

export type RollupResult = {
  rollupRuns: number;
  /** True when the rollup equalled the runs after every step. */
  rollupExact: boolean;
  rollupLoadSeconds: number;
  rollupPruneSeconds: number;
  rollupRebuildSeconds: number;
};

async function exact(database: Database, tenantId: string, step: string): Promise<boolean> {
  const { raw, rollup } = await rollupAgainstRuns(database, tenantId);
  const same = raw.length > 0 && JSON.stringify(raw) === JSON.stringify(rollup);
  log(`rollup: ${step}: ${raw.length} cells, ${same ? 'equal to the runs' : 'DIFFERENT from the runs'}`);
  return same;
}

const seconds = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;

export async function rollupPhase(adminUrl: string, runs: number): Promise<RollupResult> {
  return withScratchDatabase(adminUrl, 'opsledger_bench', async (url) => {
    const database = await openDatabase({ kind: 'postgres', url });
    try {
      await migrate(database);
      const tenant = (await database.systemTx((trx) => tenantRepository.create(trx, { name: 'Rollup' }))).id;
      log(`rollup: ${runs.toLocaleString('en')} runs over 35 days, loaded with the triggers on`);
      const parts = Math.max(1, Math.ceil(runs / 100_000));
      const t0 = performance.now();
      for (let part = 0; part < parts; part++) {
        const n = Math.min(100_000, runs - part * 100_000);
        await database.systemTx(async (trx) => {
          await sql`set local synchronous_commit = off`.execute(trx);
          await sql`
          insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind,
            created_at, started_at, completed_at, updated_at, context)
          select gen_random_uuid(), ${tenant}::uuid, type, status, outcome,
            encode(sha256(convert_to(${tenant}::text || g::text || ${part}::text, 'UTF8')), 'hex'), 'system',
            ts, case when status <> 'queued' then ts + interval '1 second' end,
            case when status = 'completed' then ts + interval '1 second' + dur end, ts,
            case when type = 'restore.execute' then jsonb_build_object('inputs', jsonb_build_object('dryRun', g % 3 = 0))
                 else '{}'::jsonb end
          from (
            select g, ts,
              (array['inventory.sync', 'drift.generate', 'backup.create', 'restore.execute'])[1 + g % 4] as type,
              case when rs < 0.02 then 'queued' when rs < 0.05 then 'running' else 'completed' end as status,
              case when rs < 0.05 then 'pending' when ro < 0.85 then 'succeeded' when ro < 0.91 then 'partially_succeeded'
                   when ro < 0.98 then 'failed' else 'cancelled' end as outcome,
              interval '1 millisecond' * floor(rd * rd * 900000) as dur
            from (
              select g, now() - random() * interval '35 days' as ts, random() as rs, random() as ro, random() as rd
              from generate_series(1, ${n}) g
            ) s
          ) m`.execute(trx);
        });
      }
      const rollupLoadSeconds = seconds(t0);
      let ok = await exact(database, tenant, `after the load (${rollupLoadSeconds} s)`);
      // Bulk transitions in one statement each: running runs complete, queued ones are cancelled.
      await database.systemTx((trx) =>
        sql`update operation_runs set status = 'completed', outcome = 'succeeded', completed_at = started_at + interval '3 seconds'
          where tenant_id = ${tenant} and status = 'running'`.execute(trx),
      );
      await database.systemTx((trx) =>
        sql`update operation_runs set status = 'completed', outcome = 'cancelled', completed_at = created_at + interval '1 second'
          where tenant_id = ${tenant} and status = 'queued'`.execute(trx),
      );
      ok = (await exact(database, tenant, 'after bulk transitions')) && ok;
      const t1 = performance.now();
      const report = await pruneRuns({
        database,
        retentionDays: 30,
        batchSize: 5000,
        logger: createLogger({ level: 'silent' }),
      });
      const rollupPruneSeconds = seconds(t1);
      ok =
        (await exact(database, tenant, `after pruning ${report.deleted} runs (${rollupPruneSeconds} s)`)) &&
        ok;
      const kept = await rollupAgainstRuns(database, tenant);
      const t2 = performance.now();
      await rebuildDailyRollup({ database }, tenant);
      const rollupRebuildSeconds = seconds(t2);
      const rebuilt = await rollupAgainstRuns(database, tenant);
      ok = JSON.stringify(rebuilt.rollup) === JSON.stringify(kept.rollup) && ok;
      ok = (await exact(database, tenant, `after a rebuild (${rollupRebuildSeconds} s)`)) && ok;
      return {
        rollupRuns: runs,
        rollupExact: ok,
        rollupLoadSeconds,
        rollupPruneSeconds,
        rollupRebuildSeconds,
      };
    } finally {
      await database.close();
    }
  });
}

if (import.meta.main) {
  const adminUrl = process.env.DATABASE_URL?.trim();
  if (!adminUrl) throw new Error('bench/rollup.ts needs DATABASE_URL (a PostgreSQL server)');
  const result = await rollupPhase(adminUrl, Number(process.argv[2] ?? 300_000));
  console.log(JSON.stringify(result));
  process.exit(result.rollupExact ? 0 : 1);
}
