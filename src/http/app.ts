import Fastify from 'fastify';
import { sql } from 'kysely';
import type { Opsledger } from '../app.ts';
import { pendingMigrations } from '../db/migrator.ts';

export type HttpOptions = { ledger: Opsledger };

/** The HTTP application: API, health endpoints and (later) the UI, on one Fastify instance. */
export async function buildHttpApp({ ledger }: HttpOptions) {
  const app = Fastify({ loggerInstance: ledger.logger, disableRequestLogging: false, bodyLimit: 256 * 1024 });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    try {
      await sql`select 1`.execute(ledger.database.db);
      const pending = await pendingMigrations(ledger.database);
      if (pending.length > 0) {
        return reply.code(503).send({ status: 'unavailable', reason: 'migrations pending' });
      }
      return { status: 'ready', database: ledger.database.kind };
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
    }
  });

  return app;
}
