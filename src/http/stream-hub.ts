import type { RunChange, RunChangeFeed } from '../ledger/change-feed.ts';
import type { RunRow } from '../ledger/run.ts';

type Subscriber = {
  send(row: RunRow): void;
  /** Many of the tenant's runs changed at once: the client should read the list afresh. */
  reload(): void;
  end(): void;
};

/**
 * Fans the ledger's change feed out to the stream subscribers of each tenant. The feed already
 * delivers each change once and in order, whichever process made it, so the hub only routes.
 */
export class RunStreamHub {
  #feed: RunChangeFeed;
  #tenants = new Map<string, Set<Subscriber>>();
  #unsubscribe: Promise<() => void> | null = null;
  #onChange = (change: RunChange) => {
    const subscribers = this.#tenants.get(change.tenantId);
    if (!subscribers) return;
    for (const s of subscribers) {
      if (change.kind === 'run') s.send(change.run);
      else s.reload();
    }
  };

  constructor(deps: { feed: RunChangeFeed }) {
    this.#feed = deps.feed;
  }

  /** Subscribers across all tenants (for leak checks and metrics). */
  get size(): number {
    let n = 0;
    for (const t of this.#tenants.values()) n += t.size;
    return n;
  }

  /** Joins the feed once, on first use: an idle server holds no LISTEN connection. */
  async ready(): Promise<void> {
    this.#unsubscribe ??= this.#feed.subscribe(this.#onChange).catch((err) => {
      this.#unsubscribe = null;
      throw err;
    });
    await this.#unsubscribe;
  }

  subscribe(tenantId: string, subscriber: Subscriber): () => void {
    let tenant = this.#tenants.get(tenantId);
    if (!tenant) {
      tenant = new Set();
      this.#tenants.set(tenantId, tenant);
    }
    tenant.add(subscriber);
    return () => {
      const t = this.#tenants.get(tenantId);
      if (!t) return;
      t.delete(subscriber);
      if (t.size === 0) this.#tenants.delete(tenantId);
    };
  }

  async close(): Promise<void> {
    for (const t of this.#tenants.values()) for (const s of t) s.end();
    this.#tenants.clear();
    const unsubscribe = await this.#unsubscribe?.catch(() => null);
    unsubscribe?.();
    this.#unsubscribe = null;
  }
}
