import type { PgBoss } from 'pg-boss';
import { AlertWorker, BossDeliveryQueue, prepareWebhookQueue } from '../alerts/queue.ts';
import { AlertService } from '../alerts/service.ts';
import { type Database, openDatabase } from '../db/database.ts';
import { listenDelivers } from '../db/listen-check.ts';
import { migrate } from '../db/migrator.ts';
import type { ReplicaStateEvent } from '../db/read-replica.ts';
import { OperationCatalog, type OperationTypeDefinition } from '../ledger/catalog.ts';
import { RunChangeFeed } from '../ledger/change-feed.ts';
import { CursorCodec } from '../ledger/cursor.ts';
import { RunEventFeed } from '../ledger/event-log-feed.ts';
import { RunEventLog } from '../ledger/event-log-service.ts';
import type { RunRow } from '../ledger/run.ts';
import { RunEvents } from '../ledger/run-events.ts';
import { ScheduleService } from '../ledger/schedules.ts';
import { OperationRunService } from '../ledger/service.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { deriveKey, loadRootKey } from '../shared/secret-key.ts';
import {
  BossRunQueue,
  BossScheduleWakeups,
  createBoss,
  prepareQueues,
  RUN_QUEUE,
  type RunQueue,
} from '../worker/boss-queue.ts';
import { RunWorker } from '../worker/worker.ts';
import { type AccessAdmin, createAccessAdmin } from './admin.ts';
import { type Config, ConfigError } from './config.ts';

export { RunEvents };

export type Opsledger = {
  config: Config;
  logger: Logger;
  database: Database;
  boss: PgBoss;
  catalog: OperationCatalog;
  queue: RunQueue;
  service: OperationRunService;
  /** Tenants' schedules; a worker fires the due ones. */
  schedules: ScheduleService;
  worker: RunWorker | null;
  events: RunEvents;
  /** Every run change of every process, once each, in commit order. */
  feed: RunChangeFeed;
  /** Every run's event log (what happened inside it). */
  eventLog: RunEventLog;
  /** Which runs have new events, for live streams of run events. */
  eventFeed: RunEventFeed;
  /** Tenants' alert targets (signed webhooks) and their deliveries. */
  alerts: AlertService;
  rootKey: Buffer;
  /** Users, members and API tokens, in process (see AccessAdmin). */
  access: AccessAdmin;
  /** Jobs waiting in the run queue, from the queue's own monitor; rejects when it cannot tell. */
  queueDepth(): Promise<number>;
  close(): Promise<void>;
};

export type DefinitionDeps = {
  config: Config;
  database: Database;
  logger: Logger;
  rootKey: Buffer;
  /** Registers something the types started (a Graph simulator) to stop when the ledger closes. */
  onClose?: (fn: () => Promise<void>) => void;
};

export type OpsledgerOptions = {
  config: Config;
  /** The operation types, or a factory that builds them from the opened database and config. */
  definitions:
    | readonly OperationTypeDefinition[]
    | ((
        deps: DefinitionDeps,
      ) => readonly OperationTypeDefinition[] | Promise<readonly OperationTypeDefinition[]>);
  logger?: Logger;
  /** Start a worker in this process (serve and worker do; one-shot commands do not). */
  worker?: boolean;
  /** An already opened database (tests pass a cloned one). */
  database?: Database;
  /** Wraps the real queue, e.g. to inject a fault between enqueue and commit in a test. */
  wrapQueue?: (queue: RunQueue) => RunQueue;
  /** pg-boss maintenance and cron; off for one-shot commands. */
  maintenance?: boolean;
};

/**
 * The configured database. With a logger (a long-running process) it also opens the read replica
 * when DATABASE_READ_URL is set and logs when the replica starts or stops serving reads; one-shot
 * commands read nothing worth offloading.
 */
export async function openDatabaseFor(config: Config, logger?: Logger): Promise<Database> {
  if (!config.databaseUrl) return openDatabase({ kind: 'pglite', dataDir: config.dataDir });
  const read =
    logger && config.databaseReadUrl
      ? {
          url: config.databaseReadUrl,
          maxLagSeconds: config.databaseReadMaxLagSeconds,
          onStateChange: ({ usable, reason }: ReplicaStateEvent) =>
            usable
              ? logger.info('read replica serves monitoring reads')
              : logger.warn({ reason }, 'read replica not used; monitoring reads go to the primary'),
        }
      : undefined;
  return openDatabase({
    kind: 'postgres',
    url: config.databaseUrl,
    directUrl: config.databaseDirectUrl,
    read,
  });
}

/**
 * Keeps the replica from answering a tenant's reads with state older than a run change this
 * process made or heard of: its own writes as they commit, everyone's from the change feed (the
 * feed hands changes to this listener before the stream's, which subscribes later).
 */
async function trackChangesForReplica(database: Database, events: RunEvents, feed: RunChangeFeed) {
  const replica = database.readReplica;
  if (!replica) return;
  events.on('change', (run: RunRow) => replica.noteChange(run.tenant_id));
  await feed.subscribe((change) => replica.noteChange(change.tenantId));
}

/** How long a start waits to hear its own NOTIFY before it calls the connection a pooler's. */
export const LISTEN_CHECK_MS = 5_000;

/**
 * Stops a serving process at start when its LISTEN goes through a transaction-mode pooler: it
 * would report ready while its live stream and wake-ups hear nothing.
 */
async function requireDirectListen(config: Config, database: Database): Promise<void> {
  if (await listenDelivers(database, LISTEN_CHECK_MS)) return;
  const seconds = LISTEN_CHECK_MS / 1000;
  throw new ConfigError(
    config.databaseDirectUrl
      ? `DATABASE_DIRECT_URL does not reach PostgreSQL directly (a LISTEN on it heard nothing in ${seconds} s): point it at PostgreSQL itself, not at a transaction pooler`
      : `DATABASE_URL goes through a transaction pooler (a LISTEN on it heard nothing in ${seconds} s): set DATABASE_DIRECT_URL to PostgreSQL itself for the queue and the change feed`,
  );
}

/** The composition root: builds every part with its dependencies passed in. */
export async function createOpsledger(options: OpsledgerOptions): Promise<Opsledger> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  // A static catalog is checked before anything opens: a bad one stops start-up.
  let catalog = Array.isArray(options.definitions) ? new OperationCatalog(options.definitions) : null;
  const database = options.database ?? (await openDatabaseFor(config, logger));
  let boss: PgBoss | null = null;
  const closers: (() => Promise<void>)[] = [];
  try {
    if (options.worker && database.kind === 'postgres') await requireDirectListen(config, database);
    await migrate(database);
    const rootKey = loadRootKey(config);
    if (!catalog) {
      const factory = options.definitions as Exclude<OpsledgerOptions['definitions'], readonly unknown[]>;
      catalog = new OperationCatalog(
        await factory({ config, database, logger, rootKey, onClose: (fn) => closers.push(fn) }),
      );
    }
    const maintenance = options.maintenance ?? options.worker ?? false;
    // pg-boss holds LISTEN sessions of its own: it connects directly, never through a pooler.
    boss = createBoss(database, {
      url: config.databaseDirectUrl ?? config.databaseUrl,
      schedule: maintenance,
      supervise: maintenance,
    });
    boss.on('error', (err) => logger.error({ err }, 'queue error'));
    await boss.start();
    await prepareQueues(boss, database);
    const realQueue = new BossRunQueue(boss, { staleRunSeconds: config.staleRunSeconds });
    const queue = options.wrapQueue ? options.wrapQueue(realQueue) : realQueue;
    const feed = new RunChangeFeed({ database, logger });
    closers.push(() => feed.close());
    const events = new RunEvents();
    events.setMaxListeners(0);
    await trackChangesForReplica(database, events, feed);
    const onRunChanged = (run: RunRow) => events.emit('change', run);
    const eventLog = new RunEventLog({ database, logger });
    const eventFeed = new RunEventFeed({ database, logger });
    closers.push(() => eventFeed.close());
    const service = new OperationRunService({
      events: eventLog,
      database,
      catalog,
      queue,
      cursors: new CursorCodec(deriveKey(rootKey, 'cursor')),
      logger,
      onRunChanged,
    });
    await prepareWebhookQueue(boss);
    const alerts = new AlertService({
      database,
      key: deriveKey(rootKey, 'alerts'),
      queue: new BossDeliveryQueue(boss, config.webhookRetrySeconds),
      catalog,
      logger,
      allowPrivate: config.webhookAllowPrivate,
    });
    const schedules = new ScheduleService({
      database,
      catalog,
      runs: service,
      wakeups: new BossScheduleWakeups(boss),
      logger,
    });
    const worker = options.worker
      ? new RunWorker({
          boss,
          database,
          service,
          catalog,
          queue,
          logger,
          tenantConcurrency: config.tenantConcurrency,
          staleRunSeconds: config.staleRunSeconds,
          mirrorCheckSeconds: config.mirrorCheckSeconds,
          retentionDays: config.retentionDays,
          feed,
          onRunChanged,
          schedules,
          events: eventLog,
        })
      : null;
    await worker?.start();
    const alertWorker = options.worker ? new AlertWorker({ database, alerts, boss, feed, logger }) : null;
    await alertWorker?.start();
    const b = boss;
    let closed = false;
    return {
      config,
      logger,
      database,
      boss: b,
      catalog: catalog as OperationCatalog,
      queue,
      service,
      schedules,
      worker,
      events,
      feed,
      eventLog,
      eventFeed,
      alerts,
      rootKey,
      access: createAccessAdmin(database, rootKey),
      async queueDepth() {
        // A failure is the metrics' to report (opsledger_collector_up), never a false 0.
        const state = await b.getQueue(RUN_QUEUE);
        return state?.queuedCount ?? 0;
      },
      async close() {
        if (closed) return;
        closed = true;
        await worker?.stop();
        await alertWorker?.stop();
        for (const close of closers) await close().catch((err) => logger.warn({ err }, 'close hook failed'));
        await b.stop({ graceful: false, close: true, timeout: 5000 }).catch(() => {});
        await database.close();
      },
    };
  } catch (err) {
    await boss?.stop({ graceful: false, close: true }).catch(() => {});
    for (const close of closers) await close().catch(() => {});
    if (!options.database) await database.close().catch(() => {});
    throw err;
  }
}
