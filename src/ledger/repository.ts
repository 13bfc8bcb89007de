import { type Insertable, type Kysely, sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import { createdAtKey, type Keyset, newestFirstPage } from '../db/keyset.ts';
import type { DB } from '../db/schema.ts';
import { failureCounts } from '../shared/failures.ts';

export type { Keyset };

import type { FailureEntry, RunRow } from './run.ts';
import type { InitiatorKind, OperationRunsTable, RunOutcome, RunStatus } from './tables.ts';

/**
 * All SQL of the canonical ledger. Every method takes the transaction and, for tenant data, the
 * tenant id, which is in every WHERE clause. Every transition is a state-guarded UPDATE that
 * returns nothing when the guard fails; the service turns that into a typed conflict.
 */

export type NewRun = Insertable<OperationRunsTable>;

export type ListFilters = {
  type?: string;
  status?: RunStatus;
  outcome?: RunOutcome;
  initiator?: InitiatorKind;
  since?: Date;
  until?: Date;
  /** A run id or the start of one (lower-case hex and dashes). */
  idPrefix?: string;
  /** The run's number in its tenant; with idPrefix too, either matches. */
  number?: number;
  initiatorUserId?: string;
  /** Only dry runs (true) or none of them (false): runs whose inputs say `dryRun: true`. */
  dryRun?: boolean;
};

export type ListedRow = RunRow & { created_at_key: string };

/** Which run complete may end: only the job named, in the status named, gone stale before, or asked to stop. */
export type CompleteGuard = {
  jobId?: string;
  status?: RunStatus;
  staleBefore?: Date;
  cancelRequested?: boolean;
};

export type CompleteResult = {
  outcome: Exclude<RunOutcome, 'pending'>;
  counts?: Record<string, number>;
  failures?: FailureEntry[];
  /** Failures by code over every one reported (default: over `failures`). */
  failureCounts?: Record<string, number>;
  links?: Record<string, string>;
};

const json = (value: unknown) => JSON.stringify(value);

/**
 * Monitoring reads must stay cheap: a read that runs longer than this is cancelled by the server
 * (and answered 503) rather than holding a connection while the operator's page waits.
 */
export const MONITORING_STATEMENT_TIMEOUT_MS = 5000;

export async function boundMonitoringRead(trx: Trx): Promise<void> {
  await sql`select set_config('statement_timeout', ${String(MONITORING_STATEMENT_TIMEOUT_MS)}, true)`.execute(
    trx,
  );
}

export const runRepository = {
  /**
   * Inserts the run unless one with its identity is active (then null). With it, in the same
   * statement, the tenant's queued runs before this one, counted up to `backlogCap` (the fair
   * queue's priority): one round trip for what took two.
   */
  async insertUnlessActive(
    trx: Trx,
    run: NewRun,
    backlogCap: number,
  ): Promise<{ row: RunRow; queuedBefore: number } | null> {
    const inserted = await trx
      .with('ins', (db) =>
        db
          .insertInto('operation_runs')
          .values(run)
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'run_identity_hash']).where('status', '<>', 'completed').doNothing(),
          )
          .returningAll(),
      )
      .selectFrom('ins')
      .selectAll('ins')
      // The statement's snapshot does not see its own insert: these are the runs queued before it.
      .select(
        sql<number>`(select count(*)::int from (select 1 from operation_runs where tenant_id = ${run.tenant_id} and status = 'queued' limit ${backlogCap}) q)`.as(
          'queued_before',
        ),
      )
      .executeTakeFirst();
    if (!inserted) return null;
    const { queued_before: queuedBefore, ...row } = inserted;
    return { row: row as RunRow, queuedBefore };
  },

  async findActiveByIdentity(trx: Trx, tenantId: string, hash: string): Promise<RunRow | null> {
    const row = await trx
      .selectFrom('operation_runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('run_identity_hash', '=', hash)
      .where('status', '<>', 'completed')
      .executeTakeFirst();
    return row ?? null;
  },

  async findById(trx: Trx, tenantId: string, id: string, forUpdate = false): Promise<RunRow | null> {
    let q = runRepository.findByIdQuery(trx, tenantId, id);
    if (forUpdate) q = q.forUpdate();
    return (await q.executeTakeFirst()) ?? null;
  },

  /** findById's statement, unexecuted (for Database.tenantRead). */
  findByIdQuery(db: Kysely<DB>, tenantId: string, id: string) {
    return db.selectFrom('operation_runs').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
  },

  /** Runs that retry the given one, newest first (for Database.tenantRead). */
  retriesQuery(db: Kysely<DB>, tenantId: string, id: string) {
    return db
      .selectFrom('operation_runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('retry_of_run_id', '=', id)
      .orderBy('created_at', 'desc')
      .limit(20);
  },

  async findBySource(
    trx: Trx,
    tenantId: string,
    sourceType: string,
    sourceId: string,
  ): Promise<RunRow | null> {
    const row = await trx
      .selectFrom('operation_runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('source_type', '=', sourceType)
      .where('source_id', '=', sourceId)
      .executeTakeFirst();
    return row ?? null;
  },

  async list(
    trx: Trx,
    tenantId: string,
    filters: ListFilters,
    after: Keyset | null,
    limit: number,
  ): Promise<ListedRow[]> {
    return (await runRepository.listQuery(trx, tenantId, filters, after, limit).execute()) as ListedRow[];
  },

  /** The tenant's runs that match the list's filters, before selection and order. */
  filtered(db: Kysely<DB>, tenantId: string, filters: ListFilters) {
    let q = db.selectFrom('operation_runs').where('tenant_id', '=', tenantId);
    if (filters.type) q = q.where('type', '=', filters.type);
    if (filters.status) q = q.where('status', '=', filters.status);
    if (filters.outcome) q = q.where('outcome', '=', filters.outcome);
    if (filters.initiator) q = q.where('initiator_kind', '=', filters.initiator);
    if (filters.since) q = q.where('created_at', '>=', filters.since);
    if (filters.until) q = q.where('created_at', '<', filters.until);
    if (filters.initiatorUserId) q = q.where('initiator_user_id', '=', filters.initiatorUserId);
    if (filters.dryRun !== undefined)
      q = q.where(sql<boolean>`operation_run_is_dry_run(context)`, '=', filters.dryRun);
    const { idPrefix, number } = filters;
    if (number !== undefined && idPrefix) {
      q = q.where((eb) =>
        eb.or([eb('run_number', '=', number), eb(sql<string>`id::text`, 'like', `${idPrefix}%`)]),
      );
    } else if (number !== undefined) {
      q = q.where('run_number', '=', number);
    } else if (idPrefix) {
      q =
        idPrefix.length === 36
          ? q.where('id', '=', idPrefix)
          : q.where(sql<string>`id::text`, 'like', `${idPrefix}%`);
    }
    return q;
  },

  /** The list's statement, unexecuted (for Database.tenantRead). */
  listQuery(db: Kysely<DB>, tenantId: string, filters: ListFilters, after: Keyset | null, limit: number) {
    const q = runRepository
      .filtered(db, tenantId, filters)
      .selectAll()
      .select(createdAtKey.as('created_at_key'));
    return newestFirstPage(q, after, limit);
  },

  /**
   * How many runs match, counted no further than `cap`: a list can say "1,000+" without a count
   * over the tenant's whole history (the monitoring read stays bounded).
   */
  countQuery(db: Kysely<DB>, tenantId: string, filters: ListFilters, cap: number) {
    const limited = runRepository
      .filtered(db, tenantId, filters)
      .select(sql.lit(1).as('one'))
      .limit(cap + 1);
    return db.selectFrom(limited.as('matching')).select((eb) => eb.fn.countAll<number>().as('n'));
  },

  /**
   * Claims the run for an attempt (for Database.tenantWrite). Only the job the row names may do so,
   * and never a finished or cancelled run.
   */
  markRunningQuery(db: Kysely<DB>, tenantId: string, id: string, jobId: string) {
    return db
      .updateTable('operation_runs')
      .set({
        status: 'running',
        attempts: sql`attempts + 1`,
        started_at: sql`coalesce(started_at, now())`,
        last_heartbeat_at: sql`now()`,
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('job_id', '=', jobId)
      .where('status', '<>', 'completed')
      .where('cancel_requested_at', 'is', null)
      .returningAll();
  },

  /** Notes that the worker holding the run is alive (for Database.tenantWrite); tells whether it was asked to stop. */
  heartbeatQuery(db: Kysely<DB>, tenantId: string, id: string, jobId: string) {
    return db
      .updateTable('operation_runs')
      .set({ last_heartbeat_at: sql`now()` })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('job_id', '=', jobId)
      .where('status', '=', 'running')
      .returning(['cancel_requested_at']);
  },

  async setCounts(
    trx: Trx,
    tenantId: string,
    id: string,
    jobId: string,
    counts: Record<string, number>,
  ): Promise<RunRow | null> {
    const row = await trx
      .updateTable('operation_runs')
      .set({
        summary_counts: sql`summary_counts || ${json(counts)}::jsonb`,
        last_heartbeat_at: sql`now()`,
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('job_id', '=', jobId)
      .where('status', '=', 'running')
      .returningAll()
      .executeTakeFirst();
    return row ?? null;
  },

  /** Puts a running run back in the queue for its next attempt, optionally under a new job. */
  async requeue(
    trx: Trx,
    tenantId: string,
    id: string,
    guard: { jobId: string; staleBefore?: Date },
    next: { jobId: string; failures: FailureEntry[] },
  ): Promise<RunRow | null> {
    let q = trx
      .updateTable('operation_runs')
      .set({
        status: 'queued',
        job_id: next.jobId,
        last_heartbeat_at: null,
        failure_summary: json(next.failures),
        failure_counts: json(failureCounts(next.failures)),
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('job_id', '=', guard.jobId)
      .where('status', '=', 'running')
      // A run asked to stop is never sent round again; the caller completes it as cancelled.
      .where('cancel_requested_at', 'is', null);
    if (guard.staleBefore) q = q.where('last_heartbeat_at', '<', guard.staleBefore);
    return (await q.returningAll().executeTakeFirst()) ?? null;
  },

  async complete(
    trx: Trx,
    tenantId: string,
    id: string,
    guard: CompleteGuard,
    result: CompleteResult,
  ): Promise<RunRow | null> {
    return (await runRepository.completeQuery(trx, tenantId, id, guard, result).executeTakeFirst()) ?? null;
  },

  /** complete's statement, unexecuted (for Database.tenantWrite). */
  completeQuery(db: Kysely<DB>, tenantId: string, id: string, guard: CompleteGuard, result: CompleteResult) {
    let q = db
      .updateTable('operation_runs')
      .set({
        status: 'completed',
        outcome: result.outcome,
        completed_at: sql`now()`,
        started_at: sql`coalesce(started_at, now())`,
        summary_counts: sql`summary_counts || ${json(result.counts ?? {})}::jsonb`,
        ...(result.failures
          ? {
              failure_summary: json(result.failures),
              failure_counts: json(result.failureCounts ?? failureCounts(result.failures)),
            }
          : {}),
        ...(result.links
          ? {
              context: sql`jsonb_set(context, '{links}', coalesce(context->'links', '{}'::jsonb) || ${json(result.links)}::jsonb)`,
            }
          : {}),
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('status', '<>', 'completed');
    if (guard.jobId) q = q.where('job_id', '=', guard.jobId);
    if (guard.status) q = q.where('status', '=', guard.status);
    if (guard.staleBefore) q = q.where('last_heartbeat_at', '<', guard.staleBefore);
    if (guard.cancelRequested) q = q.where('cancel_requested_at', 'is not', null);
    return q.returningAll();
  },

  /** Gives a queued run whose job was lost a new job. */
  async reassignQueuedJob(
    trx: Trx,
    tenantId: string,
    id: string,
    oldJobId: string | null,
    newJobId: string,
  ): Promise<RunRow | null> {
    let q = trx
      .updateTable('operation_runs')
      .set({ job_id: newJobId })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('status', '=', 'queued');
    q = oldJobId ? q.where('job_id', '=', oldJobId) : q.where('job_id', 'is', null);
    return (await q.returningAll().executeTakeFirst()) ?? null;
  },

  async requestCancel(trx: Trx, tenantId: string, id: string): Promise<RunRow | null> {
    const row = await trx
      .updateTable('operation_runs')
      .set({ cancel_requested_at: sql`coalesce(cancel_requested_at, now())` })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('status', '=', 'running')
      .returningAll()
      .executeTakeFirst();
    return row ?? null;
  },

  /** Active runs by status across tenants (system scope: metrics), from the small active set only. */
  async countActiveByStatus(db: Kysely<DB>): Promise<{ status: string; n: number }[]> {
    return db
      .selectFrom('operation_runs')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('status', '<>', 'completed')
      .groupBy('status')
      .execute()
      .then((rows) => rows.map((r) => ({ status: r.status, n: Number(r.n) })));
  },

  /** Running runs whose worker stopped heartbeating (system scope, across tenants). */
  async findStale(trx: Trx, staleBefore: Date, limit: number): Promise<RunRow[]> {
    return trx
      .selectFrom('operation_runs')
      .selectAll()
      .where('status', '=', 'running')
      .where('last_heartbeat_at', '<', staleBefore)
      .orderBy('last_heartbeat_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
  },

  /**
   * Queued runs whose job is gone from the queue (deleted, or failed without the run being told):
   * nothing would ever start them. A queued mirror without a job is not one: its domain record
   * (another application's restore) moves it, not the queue.
   */
  async findOrphanedQueued(
    trx: Trx,
    createdBefore: Date,
    jobTable: string,
    limit: number,
  ): Promise<RunRow[]> {
    return trx
      .selectFrom('operation_runs as r')
      .selectAll('r')
      .where('r.status', '=', 'queued')
      .where('r.job_id', 'is not', null)
      .where('r.created_at', '<', createdBefore)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom(sql.table(jobTable).as('j') as any)
              .select(sql.lit(1).as('one'))
              .where(sql<boolean>`j.id = r.job_id and j.state < 'completed'`),
          ),
        ),
      )
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute() as Promise<RunRow[]>;
  },

  /** Deletes one batch of completed runs older than the cutoff; returns ids and tenants deleted. */
  async pruneBatch(
    trx: Trx,
    completedBefore: Date,
    batchSize: number,
  ): Promise<{ id: string; tenant_id: string; type: string }[]> {
    const result = await sql<{ id: string; tenant_id: string; type: string }>`
      delete from operation_runs r
      using (
        select tenant_id, id from operation_runs
        where status = 'completed' and completed_at < ${completedBefore}
        order by completed_at
        limit ${batchSize}
        for update skip locked
      ) doomed
      where r.tenant_id = doomed.tenant_id and r.id = doomed.id
      returning r.id, r.tenant_id, r.type`.execute(trx);
    return result.rows;
  },
};
