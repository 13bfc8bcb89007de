import { sql } from 'kysely';
import { CredentialService } from '../access/credentials.ts';
import { AccessService } from '../access/service.ts';
import { pendingMigrations } from '../db/migrator.ts';
import { buildHttpApp, type HttpApp, type HttpOptions } from '../http/app.ts';
import { createMetrics } from '../http/metrics.ts';
import type { Readiness } from '../http/routes/system.ts';
import { RunStreamHub } from '../http/stream-hub.ts';
import { deriveKey } from '../shared/secret-key.ts';
import { SuiteReads } from '../suite/reads.ts';
import type { Opsledger } from './opsledger.ts';
import { createGraphConnectionService, createRestoreRunService } from './suite.ts';

export type ServerOptions = HttpOptions & {
  /** Wire the suite's restore-runs and Graph-connection routes (serve does; bare-ledger tests may not). */
  suite?: boolean;
  sessionTtlSeconds?: number;
};

/**
 * Builds every service the HTTP layer uses over an opened ledger and hands them to it: the HTTP
 * app itself constructs nothing, so what it can reach is exactly what is passed here.
 */
export async function createHttpServer(ledger: Opsledger, options: ServerOptions = {}): Promise<HttpApp> {
  const { database } = ledger;
  const access = new AccessService({ database });
  const credentials = new CredentialService({
    database,
    csrfKey: deriveKey(ledger.rootKey, 'session'),
    sessionTtlSeconds: options.sessionTtlSeconds,
  });
  const metrics = createMetrics({
    events: ledger.events,
    types: () => ledger.catalog.list().map((d) => d.name),
    activeRunCounts: () => ledger.service.activeRunCounts(),
    queueDepth: () => ledger.queueDepth(),
    readReplica: database.readReplica,
  });
  const hub = new RunStreamHub({ feed: ledger.feed });
  const readiness = async (): Promise<Readiness> => {
    try {
      await sql`select 1`.execute(database.db);
      if ((await pendingMigrations(database)).length > 0)
        return { ready: false, reason: 'migrations pending' };
      return { ready: true, database: database.kind };
    } catch {
      return { ready: false, reason: 'database unreachable' };
    }
  };
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
      metrics,
      readiness,
      restoreRuns: suite ? createRestoreRunService(ledger) : null,
      graphConnections: suite ? createGraphConnectionService(ledger) : null,
      suiteReads: suite ? new SuiteReads({ database }) : null,
    },
    options,
  );
  // Token uses noted but not yet written are written as the server stops.
  app.addHook('onClose', () => credentials.flushTokenUses());
  return app;
}
