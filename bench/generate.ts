// The data generator: a ledger's worth of history written in SQL, one day of every tenant's runs
// per statement (INSERT … SELECT over generate_series), oldest day first and ordered by creation
// time within the day, so that a tenant's runs lie scattered over the table as real traffic leaves
// them rather than packed together. Works on PostgreSQL and on the embedded database alike.
import { sql } from 'kysely';
import { tenantRepository } from '../src/access/tenants.ts';
import type { Database } from '../src/db/database.ts';
import { rebuildDailyRollup } from '../src/ledger/stats-rollup.ts';
import { log, pool } from './lib.ts';

export type Plan = {
  /** Tenants of ordinary size, each with `perDay` runs a day. */
  tenants: number;
  perDay: number;
  /** Days of live history (the retention period). */
  days: number;
  /** Runs of the one large tenant over the same days. */
  large: number;
  /** Runs older than the retention period, spread over every tenant, for the pruning phase. */
  expired: number;
};

/** 1,100 tenants × 100 runs a day × 90 days, one tenant with 500,000, one million expired. */
export const FULL_PLAN: Plan = { tenants: 1100, perDay: 100, days: 90, large: 500_000, expired: 1_000_000 };
/**
 * One million live rows: 100 tenants × 100 × 90 and a large tenant of 100,000; 100,000 expired
 * (enough to measure pruning under load, few enough to keep the quick run under three minutes).
 */
export const QUICK_PLAN: Plan = { tenants: 100, perDay: 100, days: 90, large: 100_000, expired: 100_000 };

/** A plan of about `rows` live rows in the same proportions (a tenth in the large tenant). */
export function planFor(rows: number, expired: number): Plan {
  const large = Math.min(500_000, Math.round(rows / 10));
  return { tenants: Math.max(1, Math.round((rows - large) / 9000)), perDay: 100, days: 90, large, expired };
}

export const liveRows = (p: Plan) => p.tenants * p.perDay * p.days + p.large;

export type Tenants = { regular: string[]; large: string };

/** The tenants, created by the product's own repository (names mark them as the benchmark's). */
export async function createTenants(database: Database, plan: Plan): Promise<Tenants> {
  return database.systemTx(async (trx) => {
    const regular: string[] = [];
    for (let i = 0; i < plan.tenants; i++) {
      regular.push((await tenantRepository.create(trx, { name: `Bench ${String(i).padStart(4, '0')}` })).id);
    }
    const large = (await tenantRepository.create(trx, { name: 'Bench large' })).id;
    return { regular, large };
  });
}

/**
 * One window of creation times, [now - (back + 1) days, now - back days), with every bench
 * tenant's runs in it. The mix: types of the suite and the benchmark's no-op; 70% started by a
 * schedule; of finished runs 85% succeeded, 6% partially, 7% failed (with a failure summary), 2%
 * cancelled; runs created in the last ten minutes are still running, the last two still queued
 * (without a queue job, so the reaper leaves them alone).
 */
async function insertWindow(
  database: Database,
  back: number,
  perDay: number,
  large: string,
  largePerDay: number,
) {
  // Foreign keys and the change-feed trigger are skipped for the load (session_replication_role):
  // the tenants exist by construction and nobody listens yet. Constraints and indexes all apply.
  const result = await database.systemTx(async (trx) => {
    await sql`set local session_replication_role = replica`.execute(trx);
    await sql`set local work_mem = '64MB'`.execute(trx);
    await sql`set local synchronous_commit = off`.execute(trx);
    return sql`
    insert into operation_runs (id, tenant_id, type, status, outcome, run_identity_hash, initiator_kind,
      initiator_user_id, initiator_name, context, summary_counts, failure_summary, attempts, max_attempts,
      last_heartbeat_at, created_at, started_at, completed_at, updated_at, run_number)
    select
      (lpad(to_hex((extract(epoch from ts) * 1000)::bigint), 12, '0') || '7' || substr(r, 14, 3) || substr(r, 17, 16))::uuid,
      tenant_id, type, status, outcome,
      encode(sha256(convert_to(tenant_id::text || ts::text || g || r, 'UTF8')), 'hex'),
      initiator_kind,
      case when initiator_kind = 'user' then md5('user' || tenant_id::text)::uuid end,
      case initiator_kind when 'user' then 'Operator' when 'schedule' then 'Nightly ' || type else '' end,
      jsonb_build_object('inputs', jsonb_build_object('connection', 'primary', 'scope', 'all')),
      case type
        when 'inventory.sync' then jsonb_build_object('created', (rd * 20)::int, 'updated', (ro * 80)::int,
          'unchanged', 400 + g % 300, 'deleted', (rd * 3)::int, 'failed', case when outcome = 'succeeded' then 0 else 1 + g % 7 end)
        when 'drift.generate' then jsonb_build_object('added', (rd * 5)::int, 'removed', (ro * 3)::int, 'modified', g % 11)
        when 'backup.create' then jsonb_build_object('items', 300 + g % 900, 'families', 12)
        when 'restore.execute' then jsonb_build_object('total', 40, 'created', 3, 'updated', 30, 'unchanged', 7,
          'failed', case when outcome = 'succeeded' then 0 else 2 end, 'skipped', 0)
        else jsonb_build_object('processed', 1)
      end,
      case outcome
        when 'failed' then jsonb_build_array(jsonb_build_object(
          'code', (array['graph_unavailable', 'graph_forbidden', 'worker_lost', 'statement_timeout', 'job_lost'])[1 + g % 5],
          'message', 'attempt ' || (1 + g % 3) || ' failed: the service did not answer in time'))
        when 'partially_succeeded' then jsonb_build_array(
          jsonb_build_object('code', 'item_failed', 'message', 'item ' || g || ' could not be written'),
          jsonb_build_object('code', 'graph_throttled', 'message', 'throttled; 1 item skipped'))
        else '[]'::jsonb
      end,
      case when status = 'queued' then 0 when outcome = 'failed' then 1 + g % 3 else 1 end,
      3,
      case when status = 'running' then now() end,
      ts,
      case when status <> 'queued' then ts + interval '1 second' end,
      case when status = 'completed' then ts + interval '1 second' + dur end,
      case when status = 'completed' then ts + interval '1 second' + dur else ts end,
      nextval('opsledger_bench_run_number')
    from (
      select s.*,
        case when rt < 0.40 then 'inventory.sync' when rt < 0.65 then 'drift.generate'
             when rt < 0.90 then 'backup.create' when rt < 0.95 then 'restore.execute' else 'test.task' end as type,
        case when ts > now() - interval '2 minutes' then 'queued'
             when ts > now() - interval '10 minutes' then 'running' else 'completed' end as status,
        case when ts > now() - interval '10 minutes' then 'pending'
             when ro < 0.85 then 'succeeded' when ro < 0.91 then 'partially_succeeded'
             when ro < 0.98 then 'failed' else 'cancelled' end as outcome,
        case when ri < 0.70 then 'schedule' when ri < 0.85 then 'user' when ri < 0.95 then 'api' else 'system' end
          as initiator_kind,
        interval '1 second' * (2 + rd * rd * 600) as dur
      from (
        select t.id as tenant_id, g,
          now() - (${back}::int + 1 - random()) * interval '1 day' as ts,
          random() as rt, random() as ro, random() as ri, random() as rd,
          replace(gen_random_uuid()::text, '-', '') as r
        from tenants t
        cross join lateral generate_series(1, case when t.id = ${large}::uuid then ${largePerDay}::int else ${perDay}::int end) g
        where t.name like 'Bench %'
      ) s
    ) m
    order by m.ts`.execute(trx);
  });
  return Number(result.numAffectedRows ?? 0);
}

/**
 * Runs `fn` with the secondary indexes of operation_runs dropped, then builds them again from
 * their own definitions: a bulk load followed by sorted index builds is several times faster than
 * maintaining nine B-trees row by row, and the indexes that result are the product's.
 */
async function withIndexesRebuilt<T>(database: Database, fn: () => Promise<T>): Promise<T> {
  const { rows } = await sql<{ name: string; def: string }>`
    select indexname as name, indexdef as def from pg_indexes
    where schemaname = current_schema() and tablename = 'operation_runs' and indexname <> 'operation_runs_pkey'`.execute(
    database.db,
  );
  for (const r of rows) await sql`drop index ${sql.id(r.name)}`.execute(database.db);
  const result = await fn();
  const t0 = performance.now();
  await pool(rows.length, database.kind === 'postgres' ? 2 : 1, async (i) => {
    await database.systemTx(async (trx) => {
      await sql`set local maintenance_work_mem = '256MB'`.execute(trx);
      await sql.raw(rows[i]!.def).execute(trx);
    });
  });
  log(`generate: ${rows.length} indexes built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return result;
}

/** Generates the plan's history; returns rows written and the rate. Progress on stderr. */
export async function generateRuns(
  database: Database,
  plan: Plan,
  tenants: Tenants,
): Promise<{ live: number; expired: number; seconds: number; rowsPerSec: number }> {
  const largePerDay = Math.round(plan.large / plan.days);
  const perDayTotal = plan.tenants * plan.perDay + largePerDay;
  const expiredDays = plan.expired > 0 ? Math.ceil(plan.expired / perDayTotal) : 0;
  // Oldest first: the expired days (a day's gap past retention), then the live ones.
  const windows = [
    ...Array.from({ length: expiredDays }, (_, j) => plan.days + expiredDays - j),
    ...Array.from({ length: plan.days }, (_, j) => plan.days - 1 - j),
  ];
  const t0 = performance.now();
  let live = 0;
  let expired = 0;
  let lastLog = 0;
  // Run numbers are given by a trigger, off for the load: one sequence numbers the loaded runs
  // (unique in every tenant), and each tenant's counter is set past its highest after the load.
  await sql`create sequence if not exists opsledger_bench_run_number`.execute(database.db);
  await withIndexesRebuilt(database, async () => {
    let finished = 0;
    // Two statements at a time on PostgreSQL (this machine has two cores); the embedded database
    // runs one statement at a time anyway.
    await pool(windows.length, database.kind === 'postgres' ? 2 : 1, async (i) => {
      const back = windows[i]!;
      const n = await insertWindow(database, back, plan.perDay, tenants.large, largePerDay);
      if (back >= plan.days) expired += n;
      else live += n;
      finished++;
      const s = (performance.now() - t0) / 1000;
      if (s - lastLog > 5 || finished === windows.length) {
        lastLog = s;
        const done = live + expired;
        log(
          `generate: day ${finished}/${windows.length}, ${done.toLocaleString('en')} rows, ${Math.round(done / s).toLocaleString('en')} rows/s`,
        );
      }
    });
  });
  await database.systemTx(async (trx) => {
    await sql`insert into tenant_run_counters (tenant_id, last_number)
      select tenant_id, max(run_number) from operation_runs group by tenant_id
      on conflict (tenant_id) do update set last_number = greatest(tenant_run_counters.last_number, excluded.last_number)`.execute(
      trx,
    );
  });
  await sql`drop sequence if exists opsledger_bench_run_number`.execute(database.db);
  // Written with triggers off: the Overview's daily rollup is rebuilt from the runs, as after any
  // such load.
  const r0 = performance.now();
  await rebuildDailyRollup({ database });
  log(`generate: daily statistics rebuilt in ${((performance.now() - r0) / 1000).toFixed(1)} s`);
  log('generate: ANALYZE');
  await sql`analyze`.execute(database.db);
  const seconds = (performance.now() - t0) / 1000;
  return { live, expired, seconds, rowsPerSec: (live + expired) / seconds };
}
