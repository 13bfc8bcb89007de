import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { AccessChanges } from '../access/access-changes.ts';
import { CredentialService } from '../access/credentials.ts';
import type { CredentialsRevokedListener } from '../access/revocation.ts';
import { AccessService } from '../access/service.ts';
import type { Database } from '../db/database.ts';
import { pendingMigrations } from '../db/migrator.ts';
import { buildHttpApp, type HttpApp, type HttpOptions } from '../http/app.ts';
import { createMetrics } from '../http/metrics.ts';
import { trustProxyWarnings } from '../http/proxy-trust.ts';
import type { Readiness } from '../http/routes/system.ts';
import { RunStreamHub } from '../http/stream-hub.ts';
import { buildWorkerHttpApp } from '../http/worker-app.ts';
import { deriveKey } from '../shared/secret-key.ts';
import { SuiteReads } from '../suite/reads.ts';
import type { Opsledger } from './opsledger.ts';
import { createGraphConnectionService, createRestoreRunService } from './suite.ts';

export type ServerOptions = HttpOptions & {
  /** Wire the suite's restore-runs and Graph-connection routes (serve does; bare-ledger tests may not). */
  suite?: boolean;
  sessionTtlSeconds?: number;
  /**
   * Told of every revocation (token, session, password change, sign out everywhere, member
   * removal) after it commits; for example to end streams in every process. None by default.
   */
  onCredentialsRevoked?: CredentialsRevokedListener;
};

/** Ready: the database answers and every migration is applied. */
async function databaseReadiness(database: Database): Promise<Readiness> {
  try {
    await sql`select 1`.execute(database.db);
    if ((await pendingMigrations(database)).length > 0) return { ready: false, reason: 'migrations pending' };
    return { ready: true, database: database.kind };
  } catch {
    return { ready: false, reason: 'database unreachable' };
  }
}

/** The process's Prometheus metrics over its ledger: a server's and a worker's are the same. */
function ledgerMetrics(ledger: Opsledger) {
  return createMetrics({
    events: ledger.events,
    types: () => ledger.catalog.list().map((d) => d.name),
    activeRunCounts: () => ledger.service.activeRunCounts(),
    divergentRunCount: () => ledger.service.divergentRunCount(),
    queueDepth: () => ledger.queueDepth(),
    readReplica: ledger.database.readReplica,
  });
}

/**
 * `opsledger worker`'s own HTTP listener: /healthz, /readyz (503 once it is stopping) and the
 * metrics of the runs this worker executes.
 */
export function createWorkerHttpServer(
  ledger: Opsledger,
  isStopping: () => boolean,
): Promise<FastifyInstance> {
  return buildWorkerHttpApp({
    config: ledger.config,
    logger: ledger.logger,
    metrics: ledgerMetrics(ledger),
    readiness: async () =>
      isStopping() ? { ready: false, reason: 'stopping' } : databaseReadiness(ledger.database),
  });
}

/**
 * Builds every service the HTTP layer uses over an opened ledger and hands them to it: the HTTP
 * app itself constructs nothing, so what it can reach is exactly what is passed here.
 */
export async function createHttpServer(ledger: Opsledger, options: ServerOptions = {}): Promise<HttpApp> {
  const { database } = ledger;
  for (const warning of trustProxyWarnings(ledger.config.trustProxy)) ledger.logger.warn(warning);
  const { config } = ledger;
  const onCredentialsRevoked = options.onCredentialsRevoked;
  const access = new AccessService({ database, onCredentialsRevoked, invitationDays: config.invitationDays });
  const credentials = new CredentialService({
    database,
    csrfKey: deriveKey(ledger.rootKey, 'session'),
    sessionTtlSeconds: options.sessionTtlSeconds,
    tokenLifetime: { defaultDays: config.tokenDefaultDays, maxDays: config.tokenMaxDays },
    onCredentialsRevoked,
  });
  const metrics = ledgerMetrics(ledger);
  const hub = new RunStreamHub({ feed: ledger.feed });
  const accessChanges = new AccessChanges({ database, logger: ledger.logger });
  const readiness = () => databaseReadiness(database);
  const suite = options.suite ?? true;
  const app = await buildHttpApp(
    {
      config: ledger.config,
      logger: ledger.logger,
      catalog: ledger.catalog,
      runs: ledger.service,
      schedules: ledger.schedules,
      access,
      credentials,
      hub,
      accessChanges,
      metrics,
      readiness,
      restoreRuns: suite ? createRestoreRunService(ledger) : null,
      graphConnections: suite ? createGraphConnectionService(ledger) : null,
      suiteReads: suite ? new SuiteReads({ database }) : null,
      runEvents: { log: ledger.eventLog, feed: ledger.eventFeed },
      alerts: ledger.alerts,
    },
    options,
  );
  // Token uses noted but not yet written are written as the server stops.
  app.addHook('onClose', () => credentials.flushTokenUses());
  app.addHook('onClose', () => accessChanges.close());
  return app;
}
