import { fromKysely, type PgBoss } from 'pg-boss';
import type { Trx } from '../db/database.ts';
import type { RunChangeFeed } from '../ledger/change-feed.ts';
import type { Logger } from '../shared/logger.ts';
import { type DeliverDeps, deliverOnce, MAX_DELIVERY_TRIES } from './delivery.ts';
import type { DeliveryQueue } from './service.ts';

/** Webhook deliveries go through this pg-boss queue: persisted, retried with backoff, once per job. */
export const WEBHOOK_QUEUE = 'opsledger-webhooks';

const SWEEP_MS = 60_000;

export async function prepareWebhookQueue(boss: PgBoss): Promise<void> {
  if (await boss.getQueue(WEBHOOK_QUEUE)) return;
  await boss
    .createQueue(WEBHOOK_QUEUE, { retryLimit: MAX_DELIVERY_TRIES - 1, deleteAfterSeconds: 86_400 })
    .catch(async (err) => {
      if (!(await boss.getQueue(WEBHOOK_QUEUE))) throw err;
    });
}

export class BossDeliveryQueue implements DeliveryQueue {
  #boss: PgBoss;
  #retrySeconds: number;
  constructor(boss: PgBoss, retrySeconds: number) {
    this.#boss = boss;
    this.#retrySeconds = retrySeconds;
  }

  async enqueue(trx: Trx, job: { tenantId: string; deliveryId: string }): Promise<void> {
    await this.#boss.send(WEBHOOK_QUEUE, job, {
      id: job.deliveryId,
      retryLimit: MAX_DELIVERY_TRIES - 1,
      retryDelay: this.#retrySeconds,
      retryBackoff: true,
      db: fromKysely(trx),
    });
  }
}

/**
 * A worker's part in alerts: hears every completed run (any process's, through the change feed)
 * and creates its deliveries, looks for runs past a duration rule and for completions the live
 * path missed (at start, then every minute), and sends the
 * queued deliveries. Several workers may do all of this at once: a delivery exists once per
 * (target, run, event) and its job is fetched by one of them.
 */
export class AlertWorker {
  #deps: DeliverDeps & { boss: PgBoss; feed: RunChangeFeed; logger: Logger };
  #unlisten: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(deps: DeliverDeps & { boss: PgBoss; feed: RunChangeFeed; logger: Logger }) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const d = this.#deps;
    this.#unlisten = await d.feed.subscribe((change) => {
      if (change.kind !== 'run' || change.run.status !== 'completed') return;
      d.alerts
        .noteRun(change.run)
        .catch((err) => d.logger.warn({ err }, 'alert deliveries could not be created'));
    });
    await d.boss.work<{ tenantId: string; deliveryId: string }>(
      WEBHOOK_QUEUE,
      { batchSize: 1, pollingIntervalSeconds: 1 },
      async ([job]) => {
        if (!job) return;
        const result = await deliverOnce(d, job.data);
        // The queue's retry (with its backoff) makes the next try.
        if (result === 'retry') throw new Error('webhook delivery failed; it will be retried');
      },
    );
    const sweep = () => {
      d.alerts.sweepLongRunning().catch((err) => d.logger.warn({ err }, 'long-running alert sweep failed'));
      d.alerts
        .catchUp()
        .then((n) => n > 0 && d.logger.info({ deliveries: n }, 'alert deliveries caught up'))
        .catch((err) => d.logger.warn({ err }, 'alert catch-up failed'));
    };
    // At start too: what completed while no worker listened is caught up at once.
    sweep();
    this.#timer = setInterval(sweep, SWEEP_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#unlisten?.();
    await this.#deps.boss.offWork(WEBHOOK_QUEUE, { wait: true }).catch(() => {});
  }
}
