/**
 * Counts events per key in a fixed window, in this process. Bounded: when full, the oldest key
 * goes first, so a flood of distinct keys costs memory up to the bound and no more.
 */
export class WindowCounter {
  #limit: number;
  #windowMs: number;
  #maxKeys: number;
  #counts = new Map<string, { n: number; resetAt: number }>();

  constructor(options: { limit: number; windowMs: number; maxKeys?: number }) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  /** Seconds until the key may try again, or 0 when it is under its limit. */
  blockedFor(key: string, now = Date.now()): number {
    const entry = this.#counts.get(key);
    if (!entry || entry.resetAt <= now) return 0;
    return entry.n >= this.#limit ? Math.ceil((entry.resetAt - now) / 1000) : 0;
  }

  /**
   * Counts an attempt before it is made and says whether it may go ahead: 0, or the seconds to
   * wait. Check and count are one synchronous step, so concurrent attempts cannot all pass the
   * check before any of them is counted.
   */
  take(key: string, now = Date.now()): number {
    const wait = this.blockedFor(key, now);
    if (wait > 0) return wait;
    this.hit(key, now);
    return 0;
  }

  hit(key: string, now = Date.now()): void {
    const entry = this.#counts.get(key);
    if (!entry || entry.resetAt <= now) {
      this.#counts.delete(key);
      this.#counts.set(key, { n: 1, resetAt: now + this.#windowMs });
      if (this.#counts.size > this.#maxKeys) this.#counts.delete(this.#counts.keys().next().value!);
      return;
    }
    entry.n += 1;
  }

  reset(key: string): void {
    this.#counts.delete(key);
  }
}
