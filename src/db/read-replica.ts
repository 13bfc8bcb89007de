import { Kysely, type KyselyConfig, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { translateDbError, UnavailableError } from '../shared/errors.ts';
import type { DB } from './schema.ts';

/** Why a read that could have gone to the replica was served by the primary. */
export type PrimaryReason =
  /** No check has completed yet (the first reads after start). */
  | 'unchecked'
  /** The replica may be further behind than the bound (or has not caught up since start). */
  | 'lagging'
  /** The last check or read could not reach the replica. */
  | 'unreachable'
  /** The server at DATABASE_READ_URL is not a standby (promoted, or the primary itself). */
  | 'not_standby'
  /** The tenant's runs changed after the moment the replica is known to have replayed up to. */
  | 'recent_change'
  /** The read failed on the replica (connection lost, conflict with recovery) and was re-run. */
  | 'replica_error';

export type ReadCount = { servedBy: 'replica' | 'primary'; reason: PrimaryReason | null; n: number };

/** The read replica as the rest of the process sees it: what it served, and how far behind it is. */
export type ReadReplica = {
  /**
   * Says that a tenant's data changed now (a run this process wrote, or one the change feed
   * announced): that tenant's reads stay on the primary until the replica has replayed past now.
   */
  noteChange(tenantId: string): void;
  /** Reads served by each side since start; the primary's by reason. */
  counts(): ReadCount[];
  /** An upper bound on the replica's delay by the last check, in seconds; null when unknown. */
  lagSeconds(): number | null;
};

export type ReplicaStateEvent = { usable: boolean; reason: PrimaryReason | null };

type Options = {
  primary: Kysely<DB>;
  replica: Kysely<DB>;
  maxLagSeconds: number;
  /** Called when the replica becomes usable or stops being usable (for a log line). */
  onStateChange?: (event: ReplicaStateEvent) => void;
};

type ReplicaState = 'unchecked' | 'standby' | 'unreachable' | 'not_standby';

const MAX_SAMPLES = 600;

function lsn(text: string): bigint {
  const [hi = '0', lo = '0'] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/**
 * A failure of the replica rather than of the read: the connection is gone or cannot be had, or
 * the standby cancelled the query for a conflict with recovery (40001). A statement timeout is not
 * one (the read is too heavy, and would be on the primary too), nor is anything the read threw.
 */
function replicaFailed(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (e?.code === '40001' || e?.code === '57014') return e.code === '40001';
  if (typeof e?.message === 'string' && e.message.startsWith('Query read timeout')) return true;
  const translated = translateDbError(err);
  return translated !== err && translated instanceof UnavailableError;
}

/**
 * Sends tenant reads to a streaming replica while it is known to be close enough, and to the
 * primary otherwise.
 *
 * How far behind the replica is: each check (at most one per interval, and only while reads come
 * in) samples the primary's `pg_current_wal_flush_lsn()` with the local time, then reads the
 * replica's `pg_last_wal_replay_lsn()`. Every transaction visible on the primary has its commit
 * record flushed (nothing here commits with synchronous_commit off), and an idle primary's flush
 * position is the end of its last record, which is where a caught-up standby's replay stands. So
 * the newest sample the replica has replayed past says "the replica holds everything the primary
 * had committed at that moment" (`caughtUpTo`): an upper bound on its delay that needs no clock
 * agreement between the servers and, unlike `now() - pg_last_xact_replay_timestamp()`, does not
 * grow while the primary is merely idle. The replica serves a read only if `now - caughtUpTo` is
 * within the bound; a check that is late (no reads for a while, or a hung replica) therefore sends
 * reads to the primary by itself.
 *
 * Reading one's writes: a read of a tenant whose runs changed after `caughtUpTo` (noted by the
 * caller from its own writes and from the change feed) goes to the primary, so a page refreshed
 * because a run changed never shows the state before that change.
 */
export class ReplicaRouter implements ReadReplica {
  #primary: Kysely<DB>;
  #replica: Kysely<DB>;
  #maxLagMs: number;
  #intervalMs: number;
  #onStateChange: (event: ReplicaStateEvent) => void;
  #samples: { at: number; lsn: bigint }[] = [];
  #caughtUpTo: number | null = null;
  #state: ReplicaState = 'unchecked';
  #changes = new Map<string, number>();
  #checking: Promise<void> | null = null;
  #lastCheck = 0;
  #usable = false;
  #counts = new Map<string, ReadCount>();

  constructor(options: Options) {
    this.#primary = options.primary;
    this.#replica = options.replica;
    this.#maxLagMs = options.maxLagSeconds * 1000;
    // Often enough that a healthy replica is always well inside the bound; at most twice a second.
    this.#intervalMs = Math.max(500, Math.min(1000, this.#maxLagMs / 4));
    this.#onStateChange = options.onStateChange ?? (() => {});
  }

  /** Runs a read on the replica when it may serve this tenant, else (or if the replica fails) on the primary. */
  async route<T>(tenantId: string, read: (db: Kysely<DB>) => Promise<T>): Promise<T> {
    const reason = this.#whyPrimary(tenantId);
    this.#maybeCheck(reason === 'recent_change');
    if (reason) {
      this.#count('primary', reason);
      return read(this.#primary);
    }
    try {
      const result = await read(this.#replica);
      this.#count('replica', null);
      return result;
    } catch (err) {
      if (!replicaFailed(err)) throw err;
      const code = (err as { code?: unknown }).code;
      // Recovery conflicts are the standby's normal life; a lost connection means it is down.
      if (code !== '40001') this.#setState('unreachable');
      this.#count('primary', 'replica_error');
      return read(this.#primary);
    }
  }

  noteChange(tenantId: string): void {
    this.#changes.set(tenantId, Date.now());
  }

  counts(): ReadCount[] {
    return [...this.#counts.values()].map((c) => ({ ...c }));
  }

  lagSeconds(): number | null {
    return this.#caughtUpTo === null ? null : Math.max(0, Date.now() - this.#caughtUpTo) / 1000;
  }

  /** Waits for a check in flight (so closing the pools does not cut it). */
  async settle(): Promise<void> {
    await this.#checking;
  }

  #whyPrimary(tenantId: string | null): PrimaryReason | null {
    if (this.#state !== 'standby') return this.#state;
    if (this.#caughtUpTo === null || Date.now() - this.#caughtUpTo > this.#maxLagMs) return 'lagging';
    const changed = tenantId === null ? undefined : this.#changes.get(tenantId);
    return changed !== undefined && changed >= this.#caughtUpTo ? 'recent_change' : null;
  }

  #count(servedBy: ReadCount['servedBy'], reason: PrimaryReason | null) {
    const key = `${servedBy}:${reason}`;
    const entry = this.#counts.get(key);
    if (entry) entry.n++;
    else this.#counts.set(key, { servedBy, reason, n: 1 });
  }

  /**
   * A tenant's reads wait on the primary for a check that shows the replica has its latest change:
   * such a check comes sooner, but never more than five times a second.
   */
  #maybeCheck(soon: boolean) {
    const now = Date.now();
    if (this.#checking || now - this.#lastCheck < (soon ? 200 : this.#intervalMs)) return;
    this.#lastCheck = now;
    this.#checking = this.#check().finally(() => {
      this.#checking = null;
    });
  }

  async #check(): Promise<void> {
    const at = Date.now();
    let primaryLsn: bigint;
    try {
      const { rows } = await sql<{ lsn: string }>`select pg_current_wal_flush_lsn()::text as lsn`.execute(
        this.#primary,
      );
      primaryLsn = lsn(rows[0]!.lsn);
    } catch {
      // The primary's own trouble shows on every request; the replica's state is left as it was.
      return;
    }
    this.#samples.push({ at, lsn: primaryLsn });
    if (this.#samples.length > MAX_SAMPLES) this.#samples.shift();
    try {
      const { rows } = await sql<{ standby: boolean; lsn: string | null }>`
        select pg_is_in_recovery() as standby, pg_last_wal_replay_lsn()::text as lsn`.execute(this.#replica);
      const row = rows[0]!;
      if (!row.standby) {
        this.#caughtUpTo = null;
        this.#setState('not_standby');
        return;
      }
      if (row.lsn !== null) {
        const replayed = lsn(row.lsn);
        // Samples are in time and LSN order: find the newest the replica has replayed past.
        let i = this.#samples.length - 1;
        while (i >= 0 && this.#samples[i]!.lsn > replayed) i--;
        if (i >= 0) {
          this.#caughtUpTo = Math.max(this.#caughtUpTo ?? 0, this.#samples[i]!.at);
          this.#samples.splice(0, i);
        }
      }
      if (this.#caughtUpTo !== null) {
        const upTo = this.#caughtUpTo;
        for (const [tenant, changedAt] of this.#changes) if (changedAt < upTo) this.#changes.delete(tenant);
      }
      this.#setState('standby');
    } catch {
      this.#caughtUpTo = null;
      this.#setState('unreachable');
    }
  }

  #setState(state: ReplicaState) {
    this.#state = state;
    const reason = this.#whyPrimary(null);
    const usable = reason === null;
    if (usable !== this.#usable) {
      this.#usable = usable;
      this.#onStateChange({ usable, reason });
    }
  }
}

export type ReadReplicaOptions = {
  url: string;
  max: number;
  applicationName: string;
  maxLagSeconds: number;
  primary: Kysely<DB>;
  /** Kysely options shared with the primary (the query log). */
  kysely?: Omit<KyselyConfig, 'dialect'>;
  onStateChange?: (event: ReplicaStateEvent) => void;
};

/** The replica's own pool and its router; close() ends the pool (the primary is the caller's). */
export function openReadReplica(options: ReadReplicaOptions): {
  router: ReplicaRouter;
  close(): Promise<void>;
} {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max,
    application_name: options.applicationName,
    // A replica that is down must send reads to the primary quickly, not hold them for long: a
    // refused connection fails at once, an unanswered one after this; a connection that stops
    // answering mid-read fails after query_timeout (monitoring reads stop themselves at 5 s).
    connectionTimeoutMillis: 3000,
    query_timeout: 15_000,
  });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const replica = new Kysely<DB>({ ...options.kysely, dialect: new PostgresDialect({ pool }) });
  const router = new ReplicaRouter({
    primary: options.primary,
    replica,
    maxLagSeconds: options.maxLagSeconds,
    onStateChange: options.onStateChange,
  });
  return {
    router,
    async close() {
      await router.settle().catch(() => {});
      await replica.destroy();
    },
  };
}
