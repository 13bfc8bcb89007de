import type { Database } from '../db/database.ts';
import type { RunRow } from '../ledger/run.ts';
import type { RunEvents } from '../ledger/run-events.ts';
import type { OperationRunService } from '../ledger/service.ts';
import { NotFoundError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';

export const RUNS_CHANNEL = 'opsledger_runs';

type Subscriber = { send(row: RunRow): void; end(): void };
type Seen = { fingerprint: string; version: number; completed: boolean };

// Per tenant, how many runs' last-sent states are remembered to drop stale or repeated snapshots.
const SEEN_LIMIT = 5_000;

/**
 * Fans run changes out to the stream subscribers of each tenant. Two sources feed it: changes made
 * in this process arrive as exact snapshots (so a fast queued → running → completed is seen
 * whole), and changes made by any process arrive as PostgreSQL notifications, after which the run
 * is read in its tenant's scope. Both may report the same change, and a read may return a state
 * older than one already sent; each tenant keeps the last state sent per run so that nothing is
 * sent twice or backwards, and nothing follows `completed`.
 */
export class RunStreamHub {
  #database: Database;
  #service: OperationRunService;
  #events: RunEvents;
  #logger: Logger;
  #tenants = new Map<
    string,
    { subscribers: Set<Subscriber>; seen: Map<string, Seen>; pending: Set<string>; draining: boolean }
  >();
  #unlisten: (() => Promise<void>) | null = null;
  #listening: Promise<void> | null = null;
  #closed = false;
  #onEvent = (row: RunRow) => this.#offer(row);

  constructor(deps: { database: Database; service: OperationRunService; events: RunEvents; logger: Logger }) {
    this.#database = deps.database;
    this.#service = deps.service;
    this.#events = deps.events;
    this.#logger = deps.logger;
  }

  /** Subscribers across all tenants (for leak checks and metrics). */
  get size(): number {
    let n = 0;
    for (const t of this.#tenants.values()) n += t.subscribers.size;
    return n;
  }

  /** Starts listening once, on first use: an idle server holds no LISTEN connection. */
  async ready(): Promise<void> {
    this.#listening ??= (async () => {
      this.#events.on('change', this.#onEvent);
      this.#unlisten = await this.#database.listen(RUNS_CHANNEL, (payload) => this.#onNotify(payload));
    })().catch((err) => {
      this.#events.off('change', this.#onEvent);
      this.#listening = null;
      throw err;
    });
    return this.#listening;
  }

  subscribe(tenantId: string, subscriber: Subscriber): () => void {
    let tenant = this.#tenants.get(tenantId);
    if (!tenant) {
      tenant = { subscribers: new Set(), seen: new Map(), pending: new Set(), draining: false };
      this.#tenants.set(tenantId, tenant);
    }
    tenant.subscribers.add(subscriber);
    return () => {
      const t = this.#tenants.get(tenantId);
      if (!t) return;
      t.subscribers.delete(subscriber);
      if (t.subscribers.size === 0) this.#tenants.delete(tenantId);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#tenants.values()) for (const s of t.subscribers) s.end();
    this.#tenants.clear();
    this.#events.off('change', this.#onEvent);
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = null;
  }

  #onNotify(payload: string): void {
    let change: { tenantId?: unknown; runId?: unknown };
    try {
      change = JSON.parse(payload);
    } catch {
      return;
    }
    if (typeof change.tenantId !== 'string' || typeof change.runId !== 'string') return;
    const tenant = this.#tenants.get(change.tenantId);
    if (!tenant || this.#closed) return;
    const { tenantId, runId } = change as { tenantId: string; runId: string };
    // Reads run one at a time per tenant, in notification order; a run notified again while it
    // waits is read once, in its latest state, so a burst of changes cannot pile up reads.
    tenant.pending.add(runId);
    if (!tenant.draining) void this.#drain(tenantId, tenant);
  }

  async #drain(tenantId: string, tenant: { pending: Set<string>; draining: boolean }): Promise<void> {
    tenant.draining = true;
    try {
      while (tenant.pending.size > 0 && !this.#closed && this.#tenants.get(tenantId) === tenant) {
        const runId = tenant.pending.values().next().value!;
        tenant.pending.delete(runId);
        try {
          this.#offer(await this.#service.getRow(tenantId, runId));
        } catch (err) {
          if (!(err instanceof NotFoundError))
            this.#logger.warn({ err, tenantId, runId }, 'stream read failed');
        }
      }
    } finally {
      tenant.draining = false;
    }
  }

  #offer(row: RunRow): void {
    const tenant = this.#tenants.get(row.tenant_id);
    if (!tenant) return;
    const prev = tenant.seen.get(row.id);
    if (prev?.completed) return;
    const version = new Date(row.updated_at).getTime();
    const completed = row.status === 'completed';
    const fingerprint = [
      row.status,
      row.attempts,
      version,
      row.cancel_requested_at ? 1 : 0,
      JSON.stringify(row.summary_counts),
    ].join('|');
    if (prev && !completed && (version < prev.version || fingerprint === prev.fingerprint)) return;
    tenant.seen.delete(row.id);
    tenant.seen.set(row.id, { fingerprint, version, completed });
    if (tenant.seen.size > SEEN_LIMIT) tenant.seen.delete(tenant.seen.keys().next().value!);
    for (const s of tenant.subscribers) s.send(row);
  }
}
