import net from 'node:net';
import type { Selectable } from 'kysely';
import { uuidv7 } from 'uuidv7';
import type { Database, Trx } from '../db/database.ts';
import { decryptSecret, encryptSecret } from '../graph/secret-box.ts';
import type { OperationCatalog } from '../ledger/catalog.ts';
import { presentRun, type RunRow } from '../ledger/run.ts';
import { ConflictError, NotFoundError, ValidationError, withDbErrors } from '../shared/errors.ts';
import { assertUuid } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { alertRepository as repo } from './repository.ts';
import { newSigningSecret } from './signature.ts';
import type { AlertOutcome, DeliveryEvent, DeliveryStatus, NotificationTargetsTable } from './tables.ts';
import { displayUrl, isPrivateAddress, parseTargetUrl } from './url-guard.ts';

export type TargetRow = Selectable<NotificationTargetsTable>;

/** Enqueues one delivery's job inside the transaction that creates the delivery. */
export interface DeliveryQueue {
  enqueue(trx: Trx, job: { tenantId: string; deliveryId: string }): Promise<void>;
}

export type TargetInput = {
  name?: string;
  url?: string;
  types?: string[];
  outcomes?: AlertOutcome[];
  longerThanMinutes?: number | null;
  enabled?: boolean;
};

export type TargetView = {
  id: string;
  name: string;
  kind: 'webhook';
  url: string;
  types: string[];
  outcomes: AlertOutcome[];
  longerThanMinutes: number | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  lastDelivery: LastDelivery | null;
};

/** A target's latest delivery, in brief: whether its alerts are getting through. */
export type LastDelivery = {
  event: DeliveryEvent;
  status: DeliveryStatus;
  statusCode: number | null;
  createdAt: string;
  completedAt: string | null;
};

export type DeliveryView = {
  id: string;
  targetId: string;
  runId: string | null;
  event: DeliveryEvent;
  status: 'pending' | 'delivered' | 'failed';
  attempts: {
    attempt: number;
    at: string;
    statusCode: number | null;
    response: string | null;
    error: string | null;
    durationMs: number;
  }[];
  createdAt: string;
  completedAt: string | null;
};

const MAX_TARGETS = 20;
const OUTCOMES: readonly AlertOutcome[] = ['failed', 'partially_succeeded'];

export type AlertDeps = {
  database: Database;
  /** Encrypts target URLs and signing secrets at rest. */
  key: Buffer;
  queue: DeliveryQueue;
  catalog: OperationCatalog;
  logger: Logger;
  allowPrivate: boolean;
};

/**
 * A tenant's alert targets (signed webhooks) and their deliveries. Callers authorise first (the
 * HTTP routes let owners alone reach this); every statement names the tenant.
 */
export class AlertService {
  #d: AlertDeps;

  constructor(deps: AlertDeps) {
    this.#d = deps;
  }

  get allowPrivate(): boolean {
    return this.#d.allowPrivate;
  }

  async list(tenantId: string): Promise<TargetView[]> {
    const t = assertUuid(tenantId, 'tenant');
    return this.#tx(t, async (trx) => {
      const rows = await repo.listTargets(trx, t);
      return withLast(trx, t, rows);
    });
  }

  /** Creates a target; its signing secret is returned this once and stored only encrypted. */
  async create(
    tenantId: string,
    input: TargetInput,
    by: string | null,
  ): Promise<{ target: TargetView; secret: string }> {
    const t = assertUuid(tenantId, 'tenant');
    const name = this.#name(input.name);
    const url = this.#url(input.url);
    const secret = newSigningSecret();
    const row = await this.#tx(t, async (trx) => {
      if ((await repo.countTargets(trx, t)) >= MAX_TARGETS)
        throw new ConflictError(`a tenant has at most ${MAX_TARGETS} alert targets`);
      return repo.insertTarget(trx, {
        tenant_id: t,
        id: uuidv7(),
        name,
        url_encrypted: encryptSecret(url.href, this.#d.key),
        url_display: displayUrl(url),
        secret_encrypted: encryptSecret(secret, this.#d.key),
        types: this.#types(input.types ?? []),
        outcomes: this.#outcomes(input.outcomes ?? ['failed']),
        longer_than_minutes: this.#minutes(input.longerThanMinutes ?? null),
        enabled: input.enabled ?? true,
        created_by: by,
      });
    });
    return { target: present(row, null), secret };
  }

  async update(tenantId: string, id: string, input: TargetInput): Promise<TargetView> {
    const t = assertUuid(tenantId, 'tenant');
    const targetId = assertUuid(id, 'alert target');
    const patch: Parameters<typeof repo.updateTarget>[3] = {};
    if (input.name !== undefined) patch.name = this.#name(input.name);
    if (input.url !== undefined) {
      const url = this.#url(input.url);
      patch.url_encrypted = encryptSecret(url.href, this.#d.key);
      patch.url_display = displayUrl(url);
    }
    if (input.types !== undefined) patch.types = this.#types(input.types);
    if (input.outcomes !== undefined) patch.outcomes = this.#outcomes(input.outcomes);
    if (input.longerThanMinutes !== undefined)
      patch.longer_than_minutes = this.#minutes(input.longerThanMinutes);
    if (input.enabled !== undefined) patch.enabled = input.enabled;
    const view = await this.#tx(t, async (trx) => {
      const row = await repo.updateTarget(trx, t, targetId, patch);
      return row ? (await withLast(trx, t, [row]))[0] : undefined;
    });
    if (!view) throw new NotFoundError('alert target not found');
    return view;
  }

  async remove(tenantId: string, id: string): Promise<void> {
    const t = assertUuid(tenantId, 'tenant');
    const targetId = assertUuid(id, 'alert target');
    const gone = await this.#tx(t, (trx) => repo.deleteTarget(trx, t, targetId));
    if (!gone) throw new NotFoundError('alert target not found');
  }

  /** Queues a test delivery to the target (the "send test" action). */
  async sendTest(tenantId: string, id: string): Promise<{ deliveryId: string }> {
    const t = assertUuid(tenantId, 'tenant');
    const targetId = assertUuid(id, 'alert target');
    const target = await this.#tx(t, (trx) => repo.getTarget(trx, t, targetId));
    if (!target) throw new NotFoundError('alert target not found');
    const deliveryId = uuidv7();
    const payload = {
      id: deliveryId,
      event: 'test',
      createdAt: new Date().toISOString(),
      tenantId: t,
      target: { id: target.id, name: target.name },
    };
    await this.#enqueue(t, {
      id: deliveryId,
      target: targetId,
      runId: null,
      event: 'test',
      key: `${targetId}:test:${deliveryId}`,
      payload,
    });
    return { deliveryId };
  }

  /** The target's latest deliveries, newest first, each with its tries and the answers they got. */
  async deliveries(tenantId: string, id: string, limit = 20): Promise<DeliveryView[]> {
    const t = assertUuid(tenantId, 'tenant');
    const targetId = assertUuid(id, 'alert target');
    return this.#tx(t, async (trx) => {
      if (!(await repo.getTarget(trx, t, targetId))) throw new NotFoundError('alert target not found');
      const rows = await repo.listDeliveries(trx, t, targetId, Math.max(1, Math.min(100, limit)));
      const attempts = await repo.attemptsOf(
        trx,
        t,
        rows.map((r) => r.id),
      );
      return rows.map((r) => ({
        id: r.id,
        targetId: r.target_id,
        runId: r.run_id,
        event: r.event,
        status: r.status,
        attempts: attempts
          .filter((a) => a.delivery_id === r.id)
          .map((a) => ({
            attempt: a.attempt,
            at: new Date(a.at).toISOString(),
            statusCode: a.status_code,
            response: a.response_excerpt,
            error: a.error,
            durationMs: a.duration_ms,
          })),
        createdAt: new Date(r.created_at).toISOString(),
        completedAt: r.completed_at ? new Date(r.completed_at).toISOString() : null,
      }));
    });
  }

  /**
   * A run completed: one delivery per enabled target whose rules it matches (or for one target,
   * on catch-up). Called by every worker process that hears of the change; the idempotency key
   * lets one of them create it.
   */
  async noteRun(run: RunRow, onlyTarget?: string): Promise<number> {
    if (run.status !== 'completed') return 0;
    const outcome = run.outcome;
    if (outcome !== 'failed' && outcome !== 'partially_succeeded') return 0;
    const t = run.tenant_id;
    const targets = (await this.#tx(t, (trx) => repo.listTargets(trx, t))).filter(
      (x) =>
        x.enabled &&
        (onlyTarget === undefined || x.id === onlyTarget) &&
        x.outcomes.includes(outcome) &&
        (x.types.length === 0 || x.types.includes(run.type)),
    );
    let created = 0;
    const event: DeliveryEvent = outcome === 'failed' ? 'run.failed' : 'run.partially_succeeded';
    for (const target of targets) {
      const id = uuidv7();
      const made = await this.#enqueue(t, {
        id,
        target: target.id,
        runId: run.id,
        event,
        key: `${target.id}:${run.id}:${event}`,
        payload: this.#payload(id, event, run),
      });
      if (made) created++;
    }
    return created;
  }

  /**
   * What the live path missed (no worker listening when a run completed, a lost LISTEN
   * connection): deliveries for runs that completed with a matching outcome in the last hour,
   * since the target was last changed, that have none yet. Safe beside the live path and in every
   * worker: a delivery exists once per (target, run, event).
   */
  async catchUp(): Promise<number> {
    const targets = await withDbErrors(() => this.#d.database.systemTx((trx) => repo.catchUpTargets(trx)));
    let created = 0;
    for (const target of targets) {
      const runs = await this.#tx(target.tenant_id, (trx) =>
        repo.missedRuns(trx, target.tenant_id, { ...target, since: new Date(target.since) }),
      );
      for (const run of runs) created += await this.noteRun(run, target.id);
    }
    return created;
  }

  /** Runs still active past a target's duration rule: one `run.long_running` delivery each. */
  async sweepLongRunning(): Promise<number> {
    const rules = await withDbErrors(() => this.#d.database.systemTx((trx) => repo.longRunningRules(trx)));
    let created = 0;
    for (const rule of rules) {
      const runs = await this.#tx(rule.tenant_id, (trx) =>
        repo.longRunning(trx, rule.tenant_id, rule.longer_than_minutes!, rule.types),
      );
      for (const run of runs) {
        const id = uuidv7();
        const made = await this.#enqueue(rule.tenant_id, {
          id,
          target: rule.id,
          runId: run.id,
          event: 'run.long_running',
          key: `${rule.id}:${run.id}:run.long_running`,
          payload: this.#payload(id, 'run.long_running', run),
        });
        if (made) created++;
      }
    }
    return created;
  }

  /** The target's URL and signing secret, in memory only, for one delivery. */
  openTarget(target: TargetRow): { url: URL; secret: string } {
    return {
      url: new URL(decryptSecret(target.url_encrypted, this.#d.key)),
      secret: decryptSecret(target.secret_encrypted, this.#d.key),
    };
  }

  #payload(id: string, event: DeliveryEvent, run: RunRow): Record<string, unknown> {
    const r = presentRun(run, this.#d.catalog.label(run.type));
    return {
      id,
      event,
      createdAt: new Date().toISOString(),
      tenantId: run.tenant_id,
      run: {
        id: r.id,
        type: r.type,
        typeLabel: r.typeLabel,
        status: r.status,
        outcome: r.outcome,
        attempts: r.attempts,
        createdAt: r.createdAt,
        startedAt: r.startedAt,
        completedAt: r.completedAt,
        durationMs: r.durationMs,
        failureGroups: r.failureGroups,
        // Redacted when stored; a few, shortened: the receiver links to the run for the rest.
        failures: r.failureSummary.slice(0, 5).map((f) => ({ ...f, message: f.message.slice(0, 500) })),
      },
    };
  }

  /**
   * Creates the delivery once and queues its job in the same transaction. A system transaction:
   * the application role may write only the run queue's jobs (boss-queue.ts); every statement
   * still names the tenant.
   */
  async #enqueue(
    tenantId: string,
    d: {
      id: string;
      target: string;
      runId: string | null;
      event: DeliveryEvent;
      key: string;
      payload: Record<string, unknown>;
    },
  ): Promise<boolean> {
    return withDbErrors(() =>
      this.#d.database.systemTx(async (trx) => {
        const made = await repo.insertDeliveryOnce(trx, {
          tenant_id: tenantId,
          id: d.id,
          target_id: d.target,
          run_id: d.runId,
          event: d.event,
          idempotency_key: d.key,
          payload: JSON.stringify(d.payload),
        });
        if (made) await this.#d.queue.enqueue(trx, { tenantId, deliveryId: d.id });
        return made !== undefined;
      }),
    );
  }

  #name(name: unknown): string {
    const n = typeof name === 'string' ? name.trim() : '';
    if (n.length < 1 || n.length > 100)
      throw new ValidationError('name must have 1–100 characters', [{ path: '/name', message: 'required' }]);
    return n;
  }

  #url(text: unknown): URL {
    const url = parseTargetUrl(text);
    if (!this.#d.allowPrivate) {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (host === 'localhost' || host.endsWith('.localhost') || (net.isIP(host) && isPrivateAddress(host)))
        throw new ValidationError('url must not name a loopback or private address', [
          { path: '/url', message: 'loopback or private address' },
        ]);
    }
    return url;
  }

  #types(types: string[]): string[] {
    for (const t of types)
      if (!this.#d.catalog.has(t))
        throw new ValidationError(`"${String(t).slice(0, 80)}" is not a registered operation type`, [
          { path: '/types', message: 'unknown type' },
        ]);
    return [...new Set(types)].sort();
  }

  #outcomes(outcomes: AlertOutcome[]): AlertOutcome[] {
    if (outcomes.length === 0 || outcomes.some((o) => !OUTCOMES.includes(o)))
      throw new ValidationError('outcomes must be failed and/or partially_succeeded', [
        { path: '/outcomes', message: 'not allowed' },
      ]);
    return [...new Set(outcomes)].sort();
  }

  #minutes(m: number | null): number | null {
    if (m === null) return null;
    if (!Number.isInteger(m) || m < 1 || m > 10080)
      throw new ValidationError('longerThanMinutes must be 1–10080', [
        { path: '/longerThanMinutes', message: 'out of range' },
      ]);
    return m;
  }

  #tx<T>(tenantId: string, fn: (trx: Trx) => Promise<T>): Promise<T> {
    return withDbErrors(() => this.#d.database.tenantTx(tenantId, fn));
  }
}

/** The targets as shown, each with its latest delivery (read in the same transaction). */
async function withLast(trx: Trx, tenantId: string, rows: TargetRow[]): Promise<TargetView[]> {
  const ids = rows.map((r) => r.id);
  const last = new Map((await repo.lastDeliveries(trx, tenantId, ids)).map((d) => [d.target_id, d]));
  return rows.map((row) => {
    const d = last.get(row.id);
    if (!d) return present(row, null);
    return present(row, {
      event: d.event,
      status: d.status,
      statusCode: d.last_status_code,
      createdAt: new Date(d.created_at).toISOString(),
      completedAt: d.completed_at ? new Date(d.completed_at).toISOString() : null,
    });
  });
}

function present(row: TargetRow, lastDelivery: LastDelivery | null): TargetView {
  return {
    id: row.id,
    name: row.name,
    kind: 'webhook',
    url: row.url_display,
    types: row.types,
    outcomes: row.outcomes,
    longerThanMinutes: row.longer_than_minutes,
    enabled: row.enabled,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    lastDelivery,
  };
}
