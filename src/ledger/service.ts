import { uuidv7 } from 'uuidv7';
import {
  type Database,
  scopeToTenant,
  type TenantReadOptions,
  type TenantReadQuery,
  type TenantTxOptions,
  type Trx,
} from '../db/database.ts';
import { ConflictError, NotFoundError, ValidationError, withDbErrors } from '../shared/errors.ts';
import { boundFailures, failureCounts } from '../shared/failures.ts';
import { assertUuid } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { redactDeep } from '../shared/redact.ts';
import { bulkCancel, bulkRetry } from './bulk.ts';
import type { OperationCatalog, OperationTypeDefinition } from './catalog.ts';
import { type CursorCodec, type ListQuery, parseListQuery } from './cursor.ts';
import type { RunEventLog } from './event-log-service.ts';
import { runIdentityHash } from './identity.ts';
import { runInsights } from './insights.ts';
import { mirrorRepository } from './mirror.ts';
import type { RunQueue } from './queue-port.ts';
import { type ListedRow, MONITORING_STATEMENT_TIMEOUT_MS, runRepository as repo } from './repository.ts';
import { type FailureEntry, type Initiator, presentRun, type Run, type RunRow } from './run.ts';
import { runStats, type StatsWindow } from './stats.ts';
import { runDailyCounts } from './stats-daily.ts';
import { RETRYABLE_OUTCOMES } from './vocabulary.ts';

export type StartRequest = {
  tenantId: string;
  type: string;
  inputs?: unknown;
  initiator: Initiator;
  /** Extra links stored in the run's context (e.g. the domain page that started it). */
  links?: Record<string, string>;
};

export type StartResult = { run: Run; created: boolean };

export type ServiceDeps = {
  database: Database;
  catalog: OperationCatalog;
  queue: RunQueue;
  cursors: CursorCodec;
  logger: Logger;
  /** Called after a run changes in this process (the in-process stream path). */
  onRunChanged?: (run: RunRow) => void;
  /** The per-run event log (who cancelled a run is written there). */
  events?: RunEventLog | null;
};

type PreparedStart = {
  tenantId: string;
  def: OperationTypeDefinition;
  inputs: Record<string, unknown>;
  hash: string;
  initiator: ReturnType<typeof normaliseInitiator>;
  links?: Record<string, string>;
};

/** Monitoring reads stay cheap: the server cancels one that runs longer (answered 503). */
const MONITORING_READ: TenantTxOptions = { statementTimeoutMs: MONITORING_STATEMENT_TIMEOUT_MS };

/** Rows read only to be presented: timestamps as text, which presentRun writes out as they are. */
const PRESENTED: TenantReadOptions = { timestampsAsText: true };

/** Backlog depth beyond which a tenant's runs all share the lowest priority. */
const FAIR_QUEUE_DEPTH = 10_000;

/**
 * The canonical ledger's one entry point for starting and moving runs. Every write is one
 * transaction scoped to the run's tenant; transitions are state-guarded so a lost race becomes a
 * ConflictError (or a no-op for the worker) and never a corrupted row.
 */
export class OperationRunService {
  #db: Database;
  #catalog: OperationCatalog;
  #queue: RunQueue;
  #cursors: CursorCodec;
  #logger: Logger;
  #onRunChanged: (run: RunRow) => void;
  #events: RunEventLog | null;

  constructor(deps: ServiceDeps) {
    this.#events = deps.events ?? null;
    this.#db = deps.database;
    this.#catalog = deps.catalog;
    this.#queue = deps.queue;
    this.#cursors = deps.cursors;
    this.#logger = deps.logger;
    this.#onRunChanged = deps.onRunChanged ?? (() => {});
  }

  get catalog(): OperationCatalog {
    return this.#catalog;
  }

  /** Per type, the tenant's runs in a window: counts by outcome and p50/p95 durations. */
  stats(tenantId: string, window: StatsWindow) {
    return runStats({ database: this.#db, catalog: this.#catalog }, tenantId, window);
  }

  /** Failure rates with their trend, slowest and latest failed runs, hourly counts (the overview's alarms). */
  async insights(tenantId: string, window: StatsWindow) {
    const found = await runInsights({ database: this.#db }, tenantId, window);
    return {
      ...found,
      failureRates: found.failureRates.map((r) => ({ ...r, typeLabel: this.#catalog.label(r.type) })),
      slowest: found.slowest.map((r) => this.present(r)),
      recentFailures: found.recentFailures.map((r) => this.present(r)),
    };
  }

  /** Runs per UTC day and type by outcome over a stats window (the overview's bars). */
  dailyCounts(tenantId: string, window: StatsWindow) {
    return runDailyCounts({ database: this.#db }, tenantId, window);
  }

  /** Queued and running runs across tenants, for the process's metrics (never shown to a tenant). */
  activeRunCounts(): Promise<{ status: string; n: number }[]> {
    return repo.countActiveByStatus(this.#db.db);
  }

  /** Mirrored runs marked as disagreeing with their domain record, all tenants (for the metrics). */
  divergentRunCount(): Promise<number> {
    return mirrorRepository.countDivergent(this.#db.db);
  }

  present(row: RunRow): Run {
    return presentRun(row, this.#catalog.label(row.type), (type, run) => this.#catalog.describe(type, run));
  }

  async start(request: StartRequest, options: { retryOf?: RunRow } = {}): Promise<StartResult> {
    const prepared = this.#prepareStart(request);
    // Losing the race on the identity index to a run that completes before we can read it is
    // possible but needs three unlucky interleavings in a row; then the caller gets a conflict.
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await this.#tx(prepared.tenantId, (trx) =>
        this.#insertRun(trx, prepared, options.retryOf),
      );
      if (result) {
        if (result.created) this.#onRunChanged(result.row);
        return { run: this.present(result.row), created: result.created };
      }
    }
    throw new ConflictError('an identical run changed state while starting; try again');
  }

  /**
   * Starts a run inside the caller's open transaction, which it scopes to the run's tenant for the
   * rest of its life: the run commits (or not) with whatever else the caller writes. The caller
   * announces the run with `announce` once it has committed.
   */
  async startInTransaction(trx: Trx, request: StartRequest): Promise<{ row: RunRow; created: boolean }> {
    const prepared = this.#prepareStart(request);
    await scopeToTenant(trx, prepared.tenantId);
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await this.#insertRun(trx, prepared);
      if (result) return result;
    }
    throw new ConflictError('an identical run changed state while starting; try again');
  }

  /**
   * The door of a start without the start: the inputs against the type's schema and the type's own
   * validation (its references exist in this tenant), in the caller's transaction scoped to the
   * tenant (a tenantTx). What a start would refuse, this refuses with the same error. Returns the inputs
   * as a start stores them (defaults applied, normalised).
   */
  async checkStart(
    trx: Trx,
    request: { tenantId: string; type: string; inputs?: unknown },
  ): Promise<Record<string, unknown>> {
    const p = this.#prepareStart({ ...request, initiator: { kind: 'system' } });
    await p.def.validate?.(trx, { tenantId: p.tenantId, inputs: p.inputs });
    return p.inputs;
  }

  /** Tells this process's listeners about a run written by `startInTransaction`, after its commit. */
  announce(row: RunRow): void {
    this.#onRunChanged(row);
  }

  #prepareStart(request: StartRequest): PreparedStart {
    const tenantId = assertUuid(request.tenantId, 'tenant');
    const def = this.#catalog.get(request.type);
    const inputs = this.#catalog.parseInputs(def.name, request.inputs);
    const identity = Object.fromEntries(def.identityKeys.map((k) => [k, inputs[k]]));
    const hash = runIdentityHash(tenantId, def.name, identity);
    const initiator = normaliseInitiator(request.initiator);
    return { tenantId, def, inputs, hash, initiator, links: request.links };
  }

  async #insertRun(
    trx: Trx,
    p: PreparedStart,
    retryOf?: RunRow,
  ): Promise<{ row: RunRow; created: boolean } | null> {
    const { tenantId, def, inputs, hash, initiator } = p;
    // Bad references are refused at the door, whichever door: before any run exists.
    const named = (await def.validate?.(trx, { tenantId, inputs })) || undefined;
    const links = named || p.links ? { ...named, ...p.links } : undefined;
    const jobId = uuidv7();
    const inserted = await repo.insertUnlessActive(
      trx,
      {
        id: uuidv7(),
        tenant_id: tenantId,
        type: def.name,
        run_identity_hash: hash,
        initiator_kind: initiator.kind,
        initiator_user_id: initiator.userId,
        initiator_name: initiator.name,
        context: JSON.stringify(redactDeep({ inputs, ...(links ? { links } : {}) })),
        summary_counts: JSON.stringify(Object.fromEntries(def.countKeys.map((k) => [k, 0]))),
        failure_summary: '[]',
        retry_of_run_id: retryOf?.id ?? null,
        max_attempts: def.maxAttempts,
        job_id: jobId,
      },
      FAIR_QUEUE_DEPTH,
    );
    if (!inserted) {
      const active = await repo.findActiveByIdentity(trx, tenantId, hash);
      return active ? { row: active, created: false } : null;
    }
    const { row, queuedBefore } = inserted;
    await def.onRunWrite?.(trx, row);
    // Same transaction as the insert: a run never exists without its job, nor a job without its run.
    // Fair queuing: the queue takes higher priorities first, so a tenant's n-th waiting run goes
    // behind every other tenant's first. One tenant's flood cannot hold back another's run.
    await this.#queue.enqueue(
      trx,
      { runId: row.id, tenantId, type: def.name },
      { jobId, timeoutSeconds: def.timeoutSeconds, priority: -queuedBefore },
    );
    // The hook may have written the run too (a domain record's trigger makes it its mirror):
    // answer with the row as it commits.
    const written = def.onRunWrite ? ((await repo.findById(trx, tenantId, row.id)) ?? row) : row;
    return { row: written, created: true };
  }

  async get(tenantId: string, runId: string): Promise<Run> {
    return this.present(await this.getRow(tenantId, runId));
  }

  /**
   * One run for a monitoring screen: from the read replica when one serves, falling back to the
   * primary when the replica does not have the run yet (just started through another server).
   * Code that must see its own writes uses get.
   */
  async detail(tenantId: string, runId: string): Promise<Run> {
    const t = assertUuid(tenantId, 'tenant');
    const id = assertUuid(runId);
    const [row] = await this.#read(t, repo.findByIdQuery(this.#db.db, t, id), PRESENTED);
    if (!row && this.#db.readReplica) return this.get(t, id);
    if (!row) throw new NotFoundError('run not found');
    return this.present(row);
  }

  async getRow(tenantId: string, runId: string): Promise<RunRow> {
    const t = assertUuid(tenantId, 'tenant');
    const id = assertUuid(runId);
    const row = await this.#tx(t, (trx) => repo.findById(trx, t, id));
    if (!row) throw new NotFoundError('run not found');
    return row;
  }

  /** Newest first, keyset-paged; never counts the tenant's history. */
  async list(tenantId: string, query: ListQuery): Promise<{ data: Run[]; nextCursor: string | null }> {
    const t = assertUuid(tenantId, 'tenant');
    const { filters, limit, after, fingerprint } = parseListQuery(query, this.#catalog, this.#cursors, t);
    let rows = (await this.#read(t, repo.listQuery(this.#db.db, t, filters, after, limit + 1), {
      ...MONITORING_READ,
      ...PRESENTED,
    })) as ListedRow[];
    // A lookup of one run by its full id (how the UI opens a run) that the replica cannot answer
    // yet is answered by the primary, as detail is.
    if (rows.length === 0 && filters.idPrefix?.length === 36 && this.#db.readReplica)
      rows = await this.#tx(t, (trx) => repo.list(trx, t, filters, after, limit + 1), MONITORING_READ);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const nextCursor =
      rows.length > limit && last
        ? this.#cursors.encode({ createdAt: last.created_at_key, id: last.id }, t, fingerprint)
        : null;
    return { data: page.map((r) => this.present(r)), nextCursor };
  }

  /** Runs that retry this one (newest first, at most 20): the other half of retry lineage. */
  async retries(tenantId: string, runId: string): Promise<Run[]> {
    const t = assertUuid(tenantId, 'tenant');
    const id = assertUuid(runId);
    const rows = await this.#read(t, repo.retriesQuery(this.#db.db, t, id), PRESENTED);
    return rows.map((r) => this.present(r));
  }

  /** How many runs the list's filters match, counted up to `cap` (then `capped`). */
  async count(tenantId: string, query: ListQuery, cap = 1000): Promise<{ total: number; capped: boolean }> {
    const t = assertUuid(tenantId, 'tenant');
    const { filters } = parseListQuery({ ...query, cursor: undefined }, this.#catalog, this.#cursors, t);
    const [row] = await this.#read(t, repo.countQuery(this.#db.db, t, filters, cap), MONITORING_READ);
    const n = Number(row?.n ?? 0);
    return { total: Math.min(n, cap), capped: n > cap };
  }

  bulkCancel(tenantId: string, runIds: readonly string[]) {
    assertUuid(tenantId, 'tenant');
    return bulkCancel(this, tenantId, runIds);
  }

  bulkRetry(tenantId: string, runIds: readonly string[], initiator: Initiator) {
    assertUuid(tenantId, 'tenant');
    return bulkRetry(this, tenantId, runIds, initiator);
  }

  /**
   * Cancels a queued run at once (its job is cancelled and its handler never runs) or asks a
   * running one to stop (its handler's signal fires; the worker completes it as cancelled).
   */
  async cancel(tenantId: string, runId: string, by?: Initiator): Promise<Run> {
    const t = assertUuid(tenantId, 'tenant');
    const id = assertUuid(runId);
    const row = await this.#tx(t, async (trx) => {
      const current = await repo.findById(trx, t, id, true);
      if (!current) throw new NotFoundError('run not found');
      if (current.status === 'completed') throw new ConflictError('the run has already completed');
      // A mirror with no job is moved by its domain record alone: another application does that
      // work, and nothing the ledger could write would stop it (nor may it rewrite their record).
      if (current.source_type !== null && current.job_id === null) {
        throw new ConflictError(
          'this run mirrors a record another application owns and runs; Opsledger cannot stop that work: cancel it in that application',
        );
      }
      if (current.status === 'queued') {
        const done = await repo.complete(trx, t, id, { status: 'queued' }, { outcome: 'cancelled' });
        if (!done) throw new ConflictError('the run changed state; try again');
        await this.#def(done.type)?.onRunWrite?.(trx, done);
        if (current.job_id) await this.#queue.cancel(trx, current.job_id);
        return done;
      }
      const requested = await repo.requestCancel(trx, t, id);
      if (!requested) throw new ConflictError('the run changed state; try again');
      return requested;
    });
    this.#onRunChanged(row);
    const who = by ? `${by.kind}${by.name ? ` ${by.name}` : ''}` : 'system';
    await this.#events?.append(t, id, [
      row.status === 'completed'
        ? {
            kind: 'run.completed',
            level: 'info',
            attempt: row.attempts,
            message: `completed: cancelled by ${who} before it started`,
            data: { outcome: 'cancelled', by: { kind: by?.kind ?? 'system', name: by?.name ?? null } },
          }
        : {
            kind: 'run.cancel_requested',
            level: 'info',
            attempt: row.attempts,
            message: `cancellation requested by ${who}`,
            data: { by: { kind: by?.kind ?? 'system', name: by?.name ?? null } },
          },
    ]);
    return this.present(row);
  }

  /** Starts a new run with the inputs of a finished failed, partial or cancelled one. */
  async retry(tenantId: string, runId: string, initiator: Initiator): Promise<Run> {
    const original = await this.getRow(tenantId, runId);
    if (original.status !== 'completed') throw new ConflictError('only a completed run can be retried');
    if (!RETRYABLE_OUTCOMES.includes(original.outcome)) {
      throw new ConflictError('only a failed, partially succeeded or cancelled run can be retried');
    }
    let inputs = (original.context as { inputs?: unknown }).inputs ?? {};
    if (original.source_type) {
      // A mirror's inputs are its domain record's, whoever wrote it: the type reads them from there.
      const retryInputs = this.#def(original.type)?.retryInputs;
      const fromRecord = retryInputs
        ? await this.#tx(original.tenant_id, (trx) => retryInputs(trx, original))
        : null;
      // (The type may refuse with its own reason, e.g. when what the record did is unknown.)
      if (!fromRecord) throw new ConflictError('this mirrored run cannot be retried');
      inputs = fromRecord;
    }
    const { run, created } = await this.start(
      { tenantId: original.tenant_id, type: original.type, inputs, initiator },
      { retryOf: original },
    );
    if (!created) throw new ConflictError(`an identical run is already active: ${run.id}`);
    return run;
  }

  // ---- transitions used by the job middleware -------------------------------------------------

  /** Claims the run for one attempt; null when it must not run (cancelled, completed, or another job holds it). */
  async markRunning(tenantId: string, runId: string, jobId: string, type: string): Promise<RunRow | null> {
    const row = await this.#transition(
      tenantId,
      type,
      repo.markRunningQuery(this.#db.db, tenantId, runId, jobId).where('type', '=', type),
    );
    if (row) this.#onRunChanged(row);
    return row;
  }

  /** Records that the worker is alive; tells it whether cancellation was requested. */
  async heartbeat(
    tenantId: string,
    runId: string,
    jobId: string,
  ): Promise<{ alive: boolean; cancelRequested: boolean }> {
    const [row] = await this.#write(tenantId, repo.heartbeatQuery(this.#db.db, tenantId, runId, jobId));
    return { alive: row !== undefined, cancelRequested: row?.cancel_requested_at != null };
  }

  async reportProgress(
    tenantId: string,
    runId: string,
    jobId: string,
    type: string,
    counts: Record<string, number>,
  ): Promise<void> {
    const clean = this.#checkCounts(type, counts);
    const row = await this.#tx(tenantId, (trx) => repo.setCounts(trx, tenantId, runId, jobId, clean));
    if (row) this.#onRunChanged(row);
  }

  /**
   * Sends a failed attempt round again under a new job, after the type's retry delay. The ledger,
   * not the queue, decides that an attempt is retried: the caller has checked that attempts remain.
   */
  async requeue(
    tenantId: string,
    runId: string,
    jobId: string,
    failure: FailureEntry,
  ): Promise<RunRow | null> {
    const row = await this.#tx(tenantId, async (trx) => {
      const failures = boundFailures([failure]);
      const nextJobId = uuidv7();
      const queued = await repo.requeue(trx, tenantId, runId, { jobId }, { jobId: nextJobId, failures });
      if (queued) {
        const def = this.#catalog.get(queued.type);
        await this.#queue.enqueue(
          trx,
          { runId, tenantId, type: queued.type },
          { jobId: nextJobId, delaySeconds: def.retryDelaySeconds ?? 0, timeoutSeconds: def.timeoutSeconds },
        );
      }
      // Cancelled while the attempt was failing: finish as cancelled instead of going round again.
      const r =
        queued ??
        (await repo.complete(
          trx,
          tenantId,
          runId,
          { jobId, status: 'running', cancelRequested: true },
          { outcome: 'cancelled', failures },
        ));
      if (r) await this.#def(r.type)?.onRunWrite?.(trx, r);
      return r;
    });
    if (row) this.#onRunChanged(row);
    return row;
  }

  async complete(
    tenantId: string,
    runId: string,
    jobId: string | null,
    type: string,
    result: {
      outcome: 'succeeded' | 'partially_succeeded' | 'failed' | 'cancelled';
      counts?: Record<string, number>;
      failures?: FailureEntry[];
      links?: Record<string, string>;
    },
  ): Promise<RunRow | null> {
    const counts = result.counts ? this.#checkCounts(type, result.counts) : undefined;
    const row = await this.#transition(
      tenantId,
      type,
      repo
        .completeQuery(this.#db.db, tenantId, runId, jobId ? { jobId } : {}, {
          outcome: result.outcome,
          counts,
          failures: result.failures ? boundFailures(result.failures) : undefined,
          failureCounts: result.failures ? failureCounts(result.failures) : undefined,
          links: result.links,
        })
        .where('type', '=', type),
    );
    if (row) this.#onRunChanged(row);
    return row;
  }

  /**
   * One of the worker's transitions of one run of the given type: the statement alone in its
   * transaction, sent in one message; or, when the type has an onRunWrite hook, which must write
   * in the same transaction, the statement and the hook in a tenant transaction.
   */
  async #transition(tenantId: string, type: string, query: TenantReadQuery<RunRow>): Promise<RunRow | null> {
    const hook = this.#def(type)?.onRunWrite;
    if (!hook) return (await this.#write(tenantId, query))[0] ?? null;
    return this.#tx(tenantId, async (trx) => {
      const r = (await trx.executeQuery(query.compile())).rows[0] ?? null;
      if (r) await hook(trx, r);
      return r;
    });
  }

  #def(type: string): OperationTypeDefinition | undefined {
    return this.#catalog.has(type) ? this.#catalog.get(type) : undefined;
  }

  /** Counters are the type's declared keys only, each a non-negative integer. */
  #checkCounts(type: string, counts: Record<string, number>): Record<string, number> {
    const allowed = this.#def(type)?.countKeys ?? [];
    const out: Record<string, number> = {};
    for (const [key, value] of Object.entries(counts)) {
      if (!allowed.includes(key)) throw new ValidationError(`"${key}" is not a declared count of ${type}`);
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new ValidationError(`count "${key}" must be a non-negative integer`);
      }
      out[key] = value;
    }
    return out;
  }

  #tx<T>(tenantId: string, fn: (trx: Trx) => Promise<T>, options?: TenantTxOptions): Promise<T> {
    return withDbErrors(() => this.#db.tenantTx(tenantId, fn, options));
  }

  #write<R>(tenantId: string, query: TenantReadQuery<R>): Promise<R[]> {
    return withDbErrors(() => this.#db.tenantWrite(tenantId, query));
  }

  /** A monitoring read: on the read replica when one serves this tenant (see Database.tenantRead). */
  #read<R>(tenantId: string, query: TenantReadQuery<R>, options?: TenantReadOptions): Promise<R[]> {
    return withDbErrors(() => this.#db.tenantRead(tenantId, query, options));
  }

  get logger(): Logger {
    return this.#logger;
  }
}

function normaliseInitiator(initiator: Initiator): {
  kind: Initiator['kind'];
  userId: string | null;
  name: string;
} {
  const kinds = ['user', 'api', 'schedule', 'system'];
  if (!kinds.includes(initiator.kind))
    throw new ValidationError(`unknown initiator kind "${String(initiator.kind)}"`);
  if (initiator.kind === 'user' && !initiator.userId)
    throw new ValidationError('a user initiator needs a user id');
  return {
    kind: initiator.kind,
    userId: initiator.userId ?? null,
    name: (initiator.name ?? '').slice(0, 200),
  };
}
