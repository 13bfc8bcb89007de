/** Who holds an open stream, as far as caps and revocation need to know. */
export type StreamHolder = {
  userId: string;
  tenantId: string;
  sessionId?: string;
  tokenId?: string;
};

export type StreamLimits = {
  /** Open streams of one user, across that user's sessions and tokens. */
  perUser: number;
  /** Open streams of one tenant, across its members. */
  perTenant: number;
  /** Open streams in this process: each holds a socket (a file descriptor) for as long as it lasts. */
  perProcess: number;
  /**
   * Places kept for tenants' first streams: a tenant past its minimum gets another stream only
   * while more than this many places are free, so busy tenants cannot take the last places.
   */
  reserve: number;
  /** Streams any tenant may open while places are free, reserve included. */
  minPerTenant: number;
};

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  perUser: 8,
  perTenant: 64,
  perProcess: 256,
  reserve: 64,
  minPerTenant: 4,
};

/** Where the registry hears that some credential or membership ended, in any process. */
export type AccessChangeSource = { subscribe(listener: () => void): Promise<() => void> };

type Entry = StreamHolder & {
  end: () => void;
  /** Resolves true while the holder may still read the tenant. */
  revalidate?: () => Promise<boolean>;
};

/** Streams re-checked at once after an access change: a bound on the burst of reads it causes. */
const REVALIDATE_CONCURRENCY = 8;

/**
 * Open streams by holder: refuses one beyond its user's, tenant's or the process's cap (so one
 * caller cannot use up the descriptors every tenant's requests need), keeps a reserve of places
 * for tenants' first streams (so the users of a few tenants cannot take every place), and ends at
 * once the streams of a session, token or membership that has just ended in this process. Other
 * processes' ends arrive as access changes (a database notice naming nothing), on which every
 * open stream's holder is re-checked.
 */
export class StreamRegistry {
  #limits: StreamLimits;
  #entries = new Set<Entry>();
  #byUser = new Map<string, number>();
  #byTenant = new Map<string, number>();
  #changes: AccessChangeSource | null;
  #subscribed: Promise<() => void> | null = null;
  #revalidating: Promise<void> | null = null;
  #again = false;

  constructor(limits: Partial<StreamLimits> = {}, changes: AccessChangeSource | null = null) {
    const perProcess = limits.perProcess ?? DEFAULT_STREAM_LIMITS.perProcess;
    // The reserve scales with a cap set lower than the default: a quarter of the places.
    const reserve = Math.min(DEFAULT_STREAM_LIMITS.reserve, Math.floor(perProcess / 4));
    this.#limits = { ...DEFAULT_STREAM_LIMITS, reserve, ...limits };
    this.#changes = changes;
  }

  /** Listens for access changes once, on first use: an idle server holds no LISTEN connection. */
  async ready(): Promise<void> {
    if (!this.#changes) return;
    this.#subscribed ??= this.#changes
      .subscribe(() => void this.revalidateAll())
      .catch((err) => {
        this.#subscribed = null;
        throw err;
      });
    await this.#subscribed;
  }

  async close(): Promise<void> {
    const unsubscribe = await this.#subscribed?.catch(() => null);
    unsubscribe?.();
    this.#subscribed = null;
  }

  /**
   * Re-checks the holder of every open stream and ends those no longer allowed. Changes that
   * arrive during a pass cause one more pass after it, not one each.
   */
  revalidateAll(): Promise<void> {
    if (this.#revalidating) {
      this.#again = true;
      return this.#revalidating;
    }
    this.#revalidating = (async () => {
      do {
        this.#again = false;
        const entries = [...this.#entries].filter((e) => e.revalidate);
        let next = 0;
        const worker = async () => {
          while (next < entries.length) {
            const e = entries[next++]!;
            if (!this.#entries.has(e)) continue;
            const ok = await e.revalidate!().catch(() => false);
            if (!ok) e.end();
          }
        };
        await Promise.all(Array.from({ length: Math.min(REVALIDATE_CONCURRENCY, entries.length) }, worker));
      } while (this.#again);
    })().finally(() => {
      this.#revalidating = null;
    });
    return this.#revalidating;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Takes a place for a stream, or returns null when a cap is reached. The returned function
   * gives the place back (idempotent).
   */
  acquire(holder: StreamHolder, end: () => void, revalidate?: () => Promise<boolean>): (() => void) | null {
    const l = this.#limits;
    const open = this.#entries.size;
    const tenantOpen = this.#byTenant.get(holder.tenantId) ?? 0;
    if (
      open >= l.perProcess ||
      (this.#byUser.get(holder.userId) ?? 0) >= l.perUser ||
      tenantOpen >= l.perTenant ||
      // Past its minimum, a tenant may not take the places kept for other tenants' first streams.
      (tenantOpen >= l.minPerTenant && l.perProcess - open <= l.reserve)
    ) {
      return null;
    }
    const entry: Entry = { ...holder, end, revalidate };
    this.#entries.add(entry);
    bump(this.#byUser, holder.userId, 1);
    bump(this.#byTenant, holder.tenantId, 1);
    return () => {
      if (!this.#entries.delete(entry)) return;
      bump(this.#byUser, holder.userId, -1);
      bump(this.#byTenant, holder.tenantId, -1);
    };
  }

  endSession(sessionId: string): void {
    this.#endWhere((e) => e.sessionId === sessionId);
  }

  endToken(tokenId: string): void {
    this.#endWhere((e) => e.tokenId === tokenId);
  }

  /** A member removed from a tenant (or whose role changed) loses that tenant's streams. */
  endMembership(tenantId: string, userId: string): void {
    this.#endWhere((e) => e.tenantId === tenantId && e.userId === userId);
  }

  endAll(): void {
    this.#endWhere(() => true);
  }

  #endWhere(match: (e: Entry) => boolean): void {
    for (const e of [...this.#entries]) if (match(e)) e.end();
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
