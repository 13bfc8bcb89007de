import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { withDbErrors } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { openSealed, readFeedKey } from './feed-seal.ts';
import type { RunRow } from './run.ts';

/**
 * The channel the database announces run changes on (migrations/0007_change_feed.sql). Every
 * notice on it is sealed with a key only the owning role reads (migrations/0009): any login may
 * LISTEN, and learns nothing of any tenant's runs by it.
 */
export const CHANGE_CHANNEL = 'opsledger_runs';

/**
 * One change of a tenant's runs: a run in the state one change left it, or `reload` when many
 * runs changed in one statement (an import, seeding, pruning) and the reader should read afresh.
 */
export type RunChange = { kind: 'run'; tenantId: string; run: RunRow } | { kind: 'reload'; tenantId: string };

export type RunChangeListener = (change: RunChange) => void;

type Notice = { tenantId?: unknown; runId?: unknown; run?: unknown; digest?: unknown; reload?: unknown };

const TIMESTAMPS = [
  'created_at',
  'updated_at',
  'started_at',
  'completed_at',
  'last_heartbeat_at',
  'cancel_requested_at',
] as const;

/**
 * The ledger's one feed of run changes, from the database's notices: a change made by any process
 * on the database (a server, a separate worker, a SQL import) reaches every listener of every
 * process once, in commit order. One LISTEN per process, opened on first use.
 */
export class RunChangeFeed {
  #database: Database;
  #logger: Logger;
  #listeners = new Set<RunChangeListener>();
  #listening: Promise<void> | null = null;
  #key: Buffer | null = null;
  #unlisten: (() => Promise<void>) | null = null;
  // Notices are handed on in the order they arrived; one that needs a read holds back the ones
  // behind it until its read is done.
  #backlog: Promise<void> = Promise.resolve();
  #queued = 0;
  #closed = false;

  constructor(deps: { database: Database; logger: Logger }) {
    this.#database = deps.database;
    this.#logger = deps.logger;
  }

  /** Adds a listener; resolves once the feed is listening, so no change after it is missed. */
  async subscribe(listener: RunChangeListener): Promise<() => void> {
    if (this.#closed) throw new Error('the change feed is closed');
    this.#listeners.add(listener);
    try {
      await this.#listen();
    } catch (err) {
      this.#listeners.delete(listener);
      throw err;
    }
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    await this.#listening?.catch(() => {});
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = null;
  }

  #listen(): Promise<void> {
    this.#listening ??= this.#readKey()
      .then(() => this.#database.listen(CHANGE_CHANNEL, (payload) => this.#onNotice(payload)))
      .then((unlisten) => {
        this.#unlisten = unlisten;
      })
      .catch((err) => {
        this.#listening = null;
        throw err;
      });
    return this.#listening;
  }

  /** The database's key that opens the notices, read once with the connecting (owning) role. */
  async #readKey(): Promise<void> {
    if (this.#key) return;
    this.#key = await readFeedKey(this.#database);
  }

  #onNotice(payload: string): void {
    if (this.#closed || !this.#key) return;
    // Not sealed by the database with this key: forged or foreign, ignored.
    const text = openSealed(this.#key, payload);
    if (text === null) return;
    let notice: Notice;
    try {
      notice = JSON.parse(text) as Notice;
    } catch {
      return;
    }
    if (typeof notice.tenantId !== 'string') return;
    const tenantId = notice.tenantId;
    if (notice.reload === true) {
      this.#hand({ kind: 'reload', tenantId });
    } else if (typeof notice.runId !== 'string') {
      // Not a notice of ours.
    } else if (notice.run && typeof notice.run === 'object') {
      this.#hand({ kind: 'run', tenantId, run: toRow(notice.run as Record<string, unknown>) });
    } else if (typeof notice.digest === 'string') {
      this.#readBack(tenantId, notice.runId, notice.digest);
    }
  }

  #hand(change: RunChange): void {
    if (this.#queued === 0) this.#emit(change);
    else this.#enqueue(async () => this.#emit(change));
  }

  #enqueue(step: () => Promise<void>): void {
    this.#queued++;
    this.#backlog = this.#backlog.then(step).finally(() => {
      this.#queued--;
    });
  }

  /**
   * A run too large for a notice: read it back if it is still as announced (its digest). If it has
   * changed again since, the read finds nothing and the later notice carries the later state, so
   * nothing is sent twice or out of order.
   */
  #readBack(tenantId: string, runId: string, digest: string): void {
    const read = withDbErrors(() =>
      this.#database.tenantTx(tenantId, (trx) =>
        trx
          .selectFrom('operation_runs as r')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('id', '=', runId)
          .where(sql<string>`operation_runs_digest(r)`, '=', digest)
          .executeTakeFirst(),
      ),
    ).then(
      (row) => ({ row, err: null }),
      (err: unknown) => ({ row: undefined, err }),
    );
    this.#enqueue(async () => {
      // Started at once, handed on in turn.
      const { row, err } = await read;
      if (row) this.#emit({ kind: 'run', tenantId, run: row });
      else if (err && !this.#closed) this.#logger.warn({ err, tenantId, runId }, 'change feed read failed');
    });
  }

  #emit(change: RunChange): void {
    if (this.#closed) return;
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#logger.warn({ err }, 'change feed listener failed');
      }
    }
  }
}

/** The row as a query returns it: timestamps as dates. */
function toRow(json: Record<string, unknown>): RunRow {
  const row: Record<string, unknown> = { ...json };
  for (const key of TIMESTAMPS) {
    const v = row[key];
    row[key] = typeof v === 'string' ? new Date(v) : (v ?? null);
  }
  return row as RunRow;
}
