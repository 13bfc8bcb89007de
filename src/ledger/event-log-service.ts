import type { Database } from '../db/database.ts';
import { NotFoundError, ValidationError, withDbErrors } from '../shared/errors.ts';
import { assertUuid, isUuid } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import type { RunLog, RunLogData } from '../shared/run-log.ts';
import {
  type EventFilters,
  type NewRunEvent,
  type PreparedEvent,
  prepareEvent,
  presentEvent,
  RUN_EVENT_LEVELS,
  RUN_EVENT_LIMITS,
  type RunEvent,
  type RunEventLevel,
  eventLogRepository as repo,
} from './event-log.ts';
import { MONITORING_STATEMENT_TIMEOUT_MS } from './repository.ts';

export const EVENT_PAGE_LIMIT = { min: 1, max: 500, default: 100 } as const;

export type EventPageQuery = { cursor?: string; limit?: number; level?: string; attempt?: number };

/** Events buffered by one attempt before they are written together. */
const FLUSH_AT = 50;
const FLUSH_AFTER_MS = 100;
/** Events an attempt holds while the database is slow; past it they are counted as dropped. */
const MAX_PENDING = 2000;

/**
 * Writes and reads the per-run event log. Writes are best-effort by design: an event that cannot
 * be stored (the database is away, a bad value) is counted, logged to the process log and dropped,
 * and never fails or holds up the run it describes. The run's own row stays the record of its state.
 */
export class RunEventLog {
  #db: Database;
  #logger: Logger;
  #cap: number;

  constructor(deps: { database: Database; logger: Logger; cap?: number }) {
    this.#db = deps.database;
    this.#logger = deps.logger;
    this.#cap = deps.cap ?? RUN_EVENT_LIMITS.perRun;
  }

  get cap(): number {
    return this.#cap;
  }

  /** Appends events at once (the ledger's own transitions); never throws. */
  async append(tenantId: string, runId: string, events: NewRunEvent[]): Promise<void> {
    await this.#write(
      tenantId,
      runId,
      events.map((e) => prepareEvent(e)),
      0,
    );
  }

  /** The log one attempt of a run writes through: buffered, flushed in batches, in order. */
  forAttempt(tenantId: string, runId: string, attempt: number): AttemptLog {
    return new AttemptLog(
      (events, dropped) => this.#write(tenantId, runId, events, dropped, attempt),
      attempt,
    );
  }

  /** One page of a run's events, oldest first. A run of another tenant is not found. */
  async page(
    tenantId: string,
    runId: string,
    query: EventPageQuery,
  ): Promise<{ data: RunEvent[]; nextCursor: string | null }> {
    const t = assertUuid(tenantId, 'tenant');
    const id = assertUuid(runId);
    const limit = query.limit ?? EVENT_PAGE_LIMIT.default;
    if (!Number.isInteger(limit) || limit < EVENT_PAGE_LIMIT.min || limit > EVENT_PAGE_LIMIT.max)
      throw new ValidationError(`limit must be ${EVENT_PAGE_LIMIT.min}–${EVENT_PAGE_LIMIT.max}`, [
        { path: '/limit', message: 'out of range' },
      ]);
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const filters: EventFilters = {};
    if (query.level !== undefined) {
      if (!(RUN_EVENT_LEVELS as readonly string[]).includes(query.level))
        throw new ValidationError('level must be info, warn or error', [
          { path: '/level', message: 'unknown level' },
        ]);
      filters.minLevel = query.level as RunEventLevel;
    }
    if (query.attempt !== undefined) filters.attempt = query.attempt;
    const rows = await withDbErrors(() =>
      this.#db.tenantTx(
        t,
        async (trx) => {
          const run = await trx
            .selectFrom('operation_runs')
            .select('id')
            .where('tenant_id', '=', t)
            .where('id', '=', id)
            .executeTakeFirst();
          if (!run) throw new NotFoundError('run not found');
          return repo.pageQuery(trx, t, id, filters, after, limit + 1).execute();
        },
        { statementTimeoutMs: MONITORING_STATEMENT_TIMEOUT_MS },
      ),
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      data: page.map(presentEvent),
      nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
    };
  }

  /**
   * The run's events after one (for a live stream), up to `limit`; null when the run is not the
   * tenant's. Read under the tenant's scope: a notice names a run, never whose it is.
   */
  async after(tenantId: string, runId: string, afterId: string | null, limit = 500): Promise<RunEvent[]> {
    const rows = await withDbErrors(() =>
      this.#db.tenantTx(tenantId, (trx) =>
        repo.pageQuery(trx, tenantId, runId, {}, afterId, limit).execute(),
      ),
    );
    return rows.map(presentEvent);
  }

  async #write(
    tenantId: string,
    runId: string,
    events: PreparedEvent[],
    droppedBefore: number,
    attempt = events[0]?.attempt ?? 0,
  ): Promise<void> {
    if (events.length === 0 && droppedBefore === 0) return;
    try {
      await this.#db.tenantTx(tenantId, async (trx) => {
        const { dropped } = await repo.insertBatch(trx, tenantId, runId, events, this.#cap);
        if (dropped + droppedBefore > 0)
          await repo.noteDropped(trx, tenantId, runId, attempt, dropped + droppedBefore);
      });
    } catch (err) {
      // Best-effort: the run goes on; the process log says what was lost (never the text itself).
      this.#logger.warn({ err, tenantId, runId, events: events.length }, 'run events could not be stored');
    }
  }
}

/** Cursors are the last event's id, opaque to callers. */
function encodeCursor(id: string): string {
  return Buffer.from(id.replaceAll('-', ''), 'hex').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const hex = /^[A-Za-z0-9_-]{22}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('hex') : '';
  const id =
    hex.length === 32
      ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
      : '';
  if (!isUuid(id))
    throw new ValidationError('the cursor is not valid', [{ path: '/cursor', message: 'not valid' }]);
  return id;
}

type Sink = (events: PreparedEvent[], dropped: number) => Promise<void>;

/**
 * One attempt's log: the RunLog handlers and the Graph client write to. Calls return at once;
 * events are ordered by the id given when they were logged, written in batches, one batch at a
 * time. `flush` waits until everything logged so far is written (or given up).
 */
export class AttemptLog implements RunLog {
  #sink: Sink;
  #attempt: number;
  #buffer: PreparedEvent[] = [];
  #dropped = 0;
  #chain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(sink: Sink, attempt: number) {
    this.#sink = sink;
    this.#attempt = attempt;
  }

  get attempt(): number {
    return this.#attempt;
  }

  info(message: string, data?: RunLogData): void {
    this.event('log', 'info', message, data);
  }
  warn(message: string, data?: RunLogData): void {
    this.event('log', 'warn', message, data);
  }
  error(message: string, data?: RunLogData): void {
    this.event('log', 'error', message, data);
  }
  milestone(message: string, data?: RunLogData): void {
    this.event('progress', 'info', message, data);
  }

  event(kind: string, level: RunEventLevel, message: string, data?: RunLogData): void {
    if (this.#closed) return;
    let prepared: PreparedEvent;
    try {
      prepared = prepareEvent({ kind, level, message, data, attempt: this.#attempt });
    } catch {
      this.#dropped++;
      return;
    }
    if (prepared.capped && this.#buffer.length >= MAX_PENDING) {
      this.#dropped++;
      return;
    }
    this.#buffer.push(prepared);
    if (this.#buffer.length >= FLUSH_AT) this.#flushNow();
    else this.#timer ??= setTimeout(() => this.#flushNow(), FLUSH_AFTER_MS);
  }

  /** Writes what is buffered; resolves when every event logged before the call is written. */
  flush(): Promise<void> {
    this.#flushNow();
    return this.#chain;
  }

  /** Flushes and refuses later events (an attempt that has ended logs nothing more). */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }

  #flushNow(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#buffer.length === 0 && this.#dropped === 0) return;
    const batch = this.#buffer;
    const dropped = this.#dropped;
    this.#buffer = [];
    this.#dropped = 0;
    this.#chain = this.#chain.then(() => this.#sink(batch, dropped)).catch(() => {});
  }
}
