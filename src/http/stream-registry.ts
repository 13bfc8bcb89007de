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
};

export const DEFAULT_STREAM_LIMITS: StreamLimits = { perUser: 8, perTenant: 64, perProcess: 256 };

type Entry = StreamHolder & { end: () => void };

/**
 * Open streams by holder: refuses one beyond its user's, tenant's or the process's cap (so one
 * caller cannot use up the descriptors every tenant's requests need), and ends at once the streams
 * of a session, token or membership that has just ended in this process. Other processes learn of
 * such an end by the stream's periodic re-check.
 */
export class StreamRegistry {
  #limits: StreamLimits;
  #entries = new Set<Entry>();
  #byUser = new Map<string, number>();
  #byTenant = new Map<string, number>();

  constructor(limits: Partial<StreamLimits> = {}) {
    this.#limits = { ...DEFAULT_STREAM_LIMITS, ...limits };
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Takes a place for a stream, or returns null when a cap is reached. The returned function
   * gives the place back (idempotent).
   */
  acquire(holder: StreamHolder, end: () => void): (() => void) | null {
    const l = this.#limits;
    if (
      this.#entries.size >= l.perProcess ||
      (this.#byUser.get(holder.userId) ?? 0) >= l.perUser ||
      (this.#byTenant.get(holder.tenantId) ?? 0) >= l.perTenant
    ) {
      return null;
    }
    const entry: Entry = { ...holder, end };
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
