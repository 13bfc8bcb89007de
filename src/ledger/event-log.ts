import { type Kysely, sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import type { Trx } from '../db/database.ts';
import type { DB } from '../db/schema.ts';
import { redact, redactDeep } from '../shared/redact.ts';
import { iso } from '../shared/time.ts';
import type { RunEventLevel } from './tables.ts';

/**
 * The per-run event log (table operation_run_events): what happened inside a run, in order. This
 * file holds its vocabulary, the bounding and redaction every event goes through before it is
 * stored, and all of its SQL. The service that writes and reads it is event-log-service.ts.
 */

export type { RunEventLevel };

export const RUN_EVENT_LEVELS: readonly RunEventLevel[] = ['info', 'warn', 'error'];

export const RUN_EVENT_LIMITS = {
  /** Events an operation type (and its Graph client) may log per run; the ledger's own are extra. */
  perRun: 1000,
  messageLength: 4000,
  /** Bytes of an event's data as JSON; larger data is replaced by a note of its size. */
  dataBytes: 4096,
  kindLength: 64,
} as const;

/**
 * Kinds the ledger writes itself. They are never dropped by the cap: there are a handful per
 * attempt, and they are what an operator reads first.
 */
export const LEDGER_EVENT_KINDS = [
  'attempt.started',
  'attempt.failed',
  'attempt.timed_out',
  'attempt.reaped',
  'retry.scheduled',
  'run.cancel_requested',
  'run.completed',
] as const;

export const DROPPED_KIND = 'events.dropped';

const LEDGER_KINDS = sql.lit(`{${LEDGER_EVENT_KINDS.join(',')}}`);

export type RunEvent = {
  id: string;
  runId: string;
  at: string;
  attempt: number;
  kind: string;
  level: RunEventLevel;
  message: string;
  data: Record<string, unknown>;
};

export type NewRunEvent = {
  kind: string;
  level: RunEventLevel;
  message: string;
  attempt: number;
  data?: Record<string, unknown>;
};

/** An event ready to store: id assigned (time order), text redacted and bounded. */
export type PreparedEvent = {
  id: string;
  at: string;
  attempt: number;
  kind: string;
  level: RunEventLevel;
  message: string;
  data: Record<string, unknown>;
  /** Counts against the run's cap (false for the ledger's own kinds). */
  capped: boolean;
};

const KIND_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;

export function prepareEvent(event: NewRunEvent, now = new Date()): PreparedEvent {
  const kind =
    typeof event.kind === 'string' &&
    KIND_RE.test(event.kind) &&
    event.kind.length <= RUN_EVENT_LIMITS.kindLength
      ? event.kind
      : 'log';
  const level = RUN_EVENT_LEVELS.includes(event.level) ? event.level : 'info';
  const attempt = Number.isSafeInteger(event.attempt) ? Math.max(0, Math.min(1000, event.attempt)) : 0;
  return {
    id: uuidv7(),
    at: now.toISOString(),
    attempt,
    kind,
    level,
    message: boundMessage(event.message),
    data: boundData(event.data),
    capped: !(LEDGER_EVENT_KINDS as readonly string[]).includes(kind),
  };
}

function boundMessage(message: unknown): string {
  const text = typeof message === 'string' ? message : String(message ?? '');
  // Redacted, whitespace collapsed, redacted again (collapsing can join pieces of a secret).
  let clean = redact(redact(text).replace(/\s+/g, ' ').trim());
  if (clean.length > RUN_EVENT_LIMITS.messageLength) {
    let cut = RUN_EVENT_LIMITS.messageLength - 1;
    const last = clean.charCodeAt(cut - 1);
    if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
    clean = `${clean.slice(0, cut)}…`;
  }
  return clean === '' ? '(no message)' : clean;
}

function boundData(data: unknown): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return {};
  let json: string | undefined;
  try {
    json = JSON.stringify(redactDeep(data));
  } catch {
    return { note: 'data could not be serialised' };
  }
  if (json === undefined) return {};
  // Strings inside the data are redacted by redactDeep; the text as a whole once more, for
  // secrets split across keys and values.
  const redacted = redact(json);
  if (Buffer.byteLength(redacted) > RUN_EVENT_LIMITS.dataBytes)
    return { note: 'data too large to keep', bytes: Buffer.byteLength(redacted) };
  try {
    return JSON.parse(redacted) as Record<string, unknown>;
  } catch {
    return { note: 'data could not be kept after redaction' };
  }
}

type EventRow = {
  id: string;
  run_id: string;
  at: Date | string;
  attempt: number;
  kind: string;
  level: RunEventLevel;
  message: string;
  data: Record<string, unknown> | null;
};

export function presentEvent(row: EventRow): RunEvent {
  return {
    id: row.id,
    runId: row.run_id,
    at: iso(row.at)!,
    attempt: row.attempt,
    kind: row.kind,
    level: row.level,
    // Redacted again on the way out (idempotent): nothing unredacted leaves, whoever wrote it.
    message: redact(row.message),
    data: redactDeep(row.data ?? {}),
  };
}

export type EventFilters = { minLevel?: RunEventLevel; attempt?: number };

export function levelsFrom(min: RunEventLevel | undefined): RunEventLevel[] {
  const from = min ? RUN_EVENT_LEVELS.indexOf(min) : 0;
  return RUN_EVENT_LEVELS.slice(Math.max(0, from));
}

export const eventLogRepository = {
  /**
   * Inserts a batch in one statement, keeping of the capped events only as many as the run's cap
   * leaves room for (counted in the same statement). Returns how many capped events were left out.
   */
  async insertBatch(
    trx: Trx,
    tenantId: string,
    runId: string,
    events: PreparedEvent[],
    cap: number,
  ): Promise<{ inserted: number; dropped: number }> {
    if (events.length === 0) return { inserted: 0, dropped: 0 };
    const batch = JSON.stringify(events);
    const { rows } = await sql<{ inserted: number; capped_inserted: number }>`
      with existing as (
        select count(*)::int as n from (
          select 1 from operation_run_events
          where tenant_id = ${tenantId} and run_id = ${runId}
            and kind <> ${DROPPED_KIND} and kind <> all(${LEDGER_KINDS}::text[])
          limit ${cap}
        ) x
      ), batch as (
        select b.*, sum(case when b.capped then 1 else 0 end) over (order by b.id) as capped_ord
        from jsonb_to_recordset(${batch}::jsonb)
          as b(id uuid, at timestamptz, attempt int, kind text, level text, message text, data jsonb, capped boolean)
      ), ins as (
        insert into operation_run_events (tenant_id, id, run_id, at, attempt, kind, level, message, data)
        select ${tenantId}, b.id, ${runId}, b.at, b.attempt, b.kind, b.level, b.message, b.data
        from batch b, existing e
        where not b.capped or e.n + b.capped_ord <= ${cap}
        returning kind
      )
      select count(*)::int as inserted,
             count(*) filter (where kind <> all(${LEDGER_KINDS}::text[]))::int as capped_inserted
      from ins`.execute(trx);
    const inserted = rows[0]?.inserted ?? 0;
    const cappedIn = rows[0]?.capped_inserted ?? 0;
    const cappedAll = events.filter((e) => e.capped).length;
    return { inserted, dropped: cappedAll - cappedIn };
  },

  /** Counts events left out into the run's one "N more events dropped" event. */
  async noteDropped(trx: Trx, tenantId: string, runId: string, attempt: number, dropped: number) {
    const plural = (n: number) =>
      `${n} more event${n === 1 ? '' : 's'} dropped (the log keeps ${RUN_EVENT_LIMITS.perRun} per run)`;
    await sql`
      insert into operation_run_events (tenant_id, id, run_id, attempt, kind, level, message, data)
      values (${tenantId}, ${uuidv7()}, ${runId}, ${attempt}, ${DROPPED_KIND}, 'warn', ${plural(dropped)},
              jsonb_build_object('dropped', ${dropped}::int))
      on conflict (tenant_id, run_id) where kind = 'events.dropped' do update
        set data = jsonb_build_object('dropped', (operation_run_events.data->>'dropped')::int + ${dropped}::int),
            message = format('%s more events dropped (the log keeps %s per run)',
                             (operation_run_events.data->>'dropped')::int + ${dropped}::int, ${RUN_EVENT_LIMITS.perRun}::int),
            attempt = excluded.attempt, at = now()`.execute(trx);
  },

  /** A page of one run's events in order, after a keyset (for Database.tenantRead or a tenant tx). */
  pageQuery(
    db: Kysely<DB>,
    tenantId: string,
    runId: string,
    filters: EventFilters,
    afterId: string | null,
    limit: number,
  ) {
    let q = db
      .selectFrom('operation_run_events')
      .select(['id', 'run_id', 'at', 'attempt', 'kind', 'level', 'message', 'data'])
      .where('tenant_id', '=', tenantId)
      .where('run_id', '=', runId);
    if (filters.minLevel && filters.minLevel !== 'info')
      q = q.where('level', 'in', levelsFrom(filters.minLevel));
    if (filters.attempt !== undefined) q = q.where('attempt', '=', filters.attempt);
    if (afterId) q = q.where('id', '>', afterId);
    return q.orderBy('id').limit(limit);
  },
};
