import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { fromKysely, fromPglite, PgBoss } from 'pg-boss';
import type { Database, Trx } from '../db/database.ts';
import type { EnqueueOptions, RunJobData, RunQueue, ScheduleWakeups } from '../ledger/queue-port.ts';

/** The queue every operation run goes through; one queue, grouped by tenant for fairness. */
export const RUN_QUEUE = 'opsledger-runs';
export const REAPER_QUEUE = 'opsledger-reaper';
export const PRUNER_QUEUE = 'opsledger-pruner';
/** The periodic check of mirrors against their domain records (one at a time across workers). */
export const MIRROR_CHECK_QUEUE = 'opsledger-mirror-check';
/** Wake-ups of the schedule evaluator: delayed jobs at each next firing, and a pg-boss cron each minute. */
export const SCHEDULE_QUEUE = 'opsledger-schedules';
/** pg-boss keeps its tables in this schema of the same database. */
export const BOSS_SCHEMA = 'pgboss';

export type { EnqueueOptions, RunJobData, RunQueue } from '../ledger/queue-port.ts';

/**
 * How long past an attempt's timeoutSeconds pg-boss waits before giving up on the job itself. The
 * tracker ends the attempt at timeoutSeconds and records it; pg-boss's own expiry only has to
 * catch a worker that is gone or wedged, and must never win the race against the tracker.
 */
export const QUEUE_EXPIRY_GRACE_SECONDS = 60;
// pg-boss refuses an expiry longer than 24 hours.
const MAX_QUEUE_EXPIRY_SECONDS = 24 * 3600;

export function createBoss(
  database: Database,
  options: { url?: string | null; schedule?: boolean; supervise?: boolean } = {},
): PgBoss {
  const common = {
    schema: BOSS_SCHEMA,
    // Workers on notify-enabled queues wake when a job is committed instead of waiting for a poll.
    useListenNotify: true,
    schedule: options.schedule ?? true,
    supervise: options.supervise ?? true,
    // The run ledger, not pg-boss, is the record operators read; keep job history short.
    persistWarnings: false,
    // The heartbeat of a dead worker's job is noticed within seconds (supervision), and the queue
    // counts the metrics read are at most a few seconds old. (A backlog is drained back to back by
    // the worker itself: see RunWorker.)
    monitorIntervalSeconds: 5,
    superviseIntervalSeconds: 5,
    queueCacheIntervalSeconds: 5,
  };
  if (database.kind === 'pglite') {
    return new PgBoss({ ...common, db: fromPglite(database.pglite! as any), backend: 'pglite' });
  }
  if (!options.url) throw new Error('createBoss needs the PostgreSQL URL');
  // pg-boss keeps its own small pool: it needs a session-pinned connection for LISTEN.
  return new PgBoss({
    ...common,
    connectionString: options.url,
    max: 4,
    application_name: 'opsledger-queue',
  });
}

/** Serialises the grants of processes that start at once (any constant unique to this purpose). */
const QUEUE_GRANTS_LOCK_KEY = 7_203_114_905;

/** Creates the queues (idempotent) and lets the application role use pg-boss's tables. */
export async function prepareQueues(boss: PgBoss, database: Database): Promise<void> {
  const ensure = async (name: string, options: Parameters<PgBoss['createQueue']>[1]) => {
    const existing = await boss.getQueue(name);
    if (!existing) {
      await boss.createQueue(name, options).catch(async (err) => {
        // Another process created it first.
        if (!(await boss.getQueue(name))) throw err;
      });
    }
  };
  await ensure(RUN_QUEUE, { notify: true, retryLimit: 0, deleteAfterSeconds: 86_400 });
  await ensure(REAPER_QUEUE, { policy: 'stately', notify: true, retryLimit: 0, deleteAfterSeconds: 3600 });
  await ensure(PRUNER_QUEUE, { policy: 'stately', retryLimit: 1, deleteAfterSeconds: 86_400 });
  await ensure(SCHEDULE_QUEUE, { retryLimit: 0, deleteAfterSeconds: 3600 });
  await ensure(MIRROR_CHECK_QUEUE, { policy: 'stately', retryLimit: 0, deleteAfterSeconds: 3600 });
  // The start transaction runs as the application role and enqueues through it: it may read the
  // queue definitions and insert and cancel jobs of the run queue, of its own tenant only (the
  // job's group is the tenant), and touch nothing else of pg-boss.
  const runTable = (await boss.getQueue(RUN_QUEUE))!.table;
  if (!/^[a-z_][a-z0-9_]*$/.test(runTable)) throw new Error(`unexpected queue table name ${runTable}`);
  await database.systemTx(async (trx) => {
    // Processes starting together would otherwise grant at the same time, and PostgreSQL fails a
    // GRANT whose catalog row another one is updating ("tuple concurrently updated").
    await sql`select pg_advisory_xact_lock(${QUEUE_GRANTS_LOCK_KEY})`.execute(trx);
    await sql
      .raw(`
        revoke all on all tables in schema ${BOSS_SCHEMA} from opsledger_app;
        revoke all on all sequences in schema ${BOSS_SCHEMA} from opsledger_app;
        grant usage on schema ${BOSS_SCHEMA} to opsledger_app;
        grant select on ${BOSS_SCHEMA}.queue to opsledger_app;
        grant select, insert, update on ${BOSS_SCHEMA}.${runTable} to opsledger_app;
        grant execute on all functions in schema ${BOSS_SCHEMA} to opsledger_app;
        do $$ begin
          -- Only when missing: the table lock this takes would stall running workers on every start.
          if not exists (select from pg_policies where schemaname = '${BOSS_SCHEMA}'
                         and tablename = '${runTable}' and policyname = 'opsledger_tenant') then
            alter table ${BOSS_SCHEMA}.${runTable} enable row level security;
            create policy opsledger_tenant on ${BOSS_SCHEMA}.${runTable}
              using (current_user <> 'opsledger_app' or group_id = public.opsledger_tenant()::text)
              with check (current_user <> 'opsledger_app' or group_id = public.opsledger_tenant()::text);
          end if;
        end $$;`)
      .execute(trx);
  });
}

export class BossRunQueue implements RunQueue {
  #boss: PgBoss;
  #heartbeatSeconds: number | undefined;
  /**
   * `staleRunSeconds`: how long a worker may stay silent before it is presumed dead. A run job
   * carries it as pg-boss's heartbeat, so a job a dead worker fetched but never got to mark
   * running is failed by the queue that long after, and the reaper then queues the run again,
   * instead of the job waiting out its expiry (the type's timeout plus a minute).
   */
  constructor(boss: PgBoss, options: { staleRunSeconds?: number } = {}) {
    this.#boss = boss;
    // pg-boss takes no heartbeat shorter than 10 seconds.
    this.#heartbeatSeconds =
      options.staleRunSeconds === undefined ? undefined : Math.max(10, options.staleRunSeconds);
  }

  async enqueue(trx: Trx, job: RunJobData, options: EnqueueOptions): Promise<void> {
    await this.#boss.send(RUN_QUEUE, job, {
      id: options.jobId,
      // Fairness: a worker runs at most TENANT_CONCURRENCY jobs of one group (tenant) at once.
      group: { id: job.tenantId },
      // Attempts are the ledger's to count: each retry is a new job (OperationRunService.requeue).
      retryLimit: 0,
      ...(options.delaySeconds ? { startAfter: options.delaySeconds } : {}),
      expireInSeconds: Math.min(
        MAX_QUEUE_EXPIRY_SECONDS,
        options.timeoutSeconds + QUEUE_EXPIRY_GRACE_SECONDS,
      ),
      priority: options.priority ?? 0,
      ...(this.#heartbeatSeconds ? { heartbeatSeconds: this.#heartbeatSeconds } : {}),
      db: fromKysely(trx),
    });
  }

  async cancel(trx: Trx, jobId: string): Promise<void> {
    await this.#boss.cancel(RUN_QUEUE, jobId, { db: fromKysely(trx) } as any);
  }
}

/**
 * One wake-up job per second of the clock: its id is derived from the second, so any number of
 * processes asking to be woken at the same moment leave one job (pg-boss ignores a duplicate id).
 */
export function wakeupJobId(second: number): string {
  const h = createHash('sha256').update(`opsledger-schedule-wakeup:${second}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class BossScheduleWakeups implements ScheduleWakeups {
  #boss: PgBoss;
  constructor(boss: PgBoss) {
    this.#boss = boss;
  }

  async wakeAt(trx: Trx | null, at: Date): Promise<void> {
    // Never earlier than the next whole second: a wake-up for a moment already past would share its
    // id with a job that ran then, and be dropped as a duplicate.
    const second = Math.max(Math.ceil(at.getTime() / 1000), Math.ceil(Date.now() / 1000) + 1);
    await this.#boss.send(
      SCHEDULE_QUEUE,
      {},
      {
        id: wakeupJobId(second),
        startAfter: new Date(second * 1000),
        ...(trx ? { db: fromKysely(trx) } : {}),
      },
    );
  }
}
