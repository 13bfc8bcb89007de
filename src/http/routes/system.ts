import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import Type from 'typebox';
import { pendingMigrations } from '../../db/migrator.ts';
import type { Opsledger } from '../../main/opsledger.ts';
import type { Metrics } from '../metrics.ts';
import { problems } from '../schemas.ts';

const Status = Type.Object({ status: Type.String() }, { additionalProperties: true });
const Health = Type.Object({
  status: Type.String(),
  database: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
});

/** Liveness, readiness, metrics and the OpenAPI document: public, and free of tenant data. */
export function registerSystemRoutes(app: FastifyInstance, deps: { ledger: Opsledger; metrics: Metrics }) {
  const { ledger, metrics } = deps;
  const publicRoute = { config: { auth: 'public' as const } };

  app.get(
    '/healthz',
    {
      ...publicRoute,
      schema: { summary: 'Liveness', tags: ['system'], security: [], response: { 200: Status } },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      ...publicRoute,
      schema: {
        summary: 'Readiness: the database is reachable and migrated',
        tags: ['system'],
        security: [],
        response: { 200: Health, 503: Health },
      },
    },
    async (_req, reply) => {
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
    },
  );

  app.get(
    '/metrics',
    {
      ...publicRoute,
      schema: {
        summary: 'Prometheus metrics',
        tags: ['system'],
        security: [],
        produces: ['text/plain'],
        response: { 200: Type.String(), ...problems(503) },
      },
    },
    async (_req, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );

  app.get(
    '/api/v1/openapi.json',
    {
      ...publicRoute,
      schema: {
        summary: 'This OpenAPI document',
        tags: ['system'],
        security: [],
        response: { 200: Type.Record(Type.String(), Type.Unknown()) },
      },
    },
    async () => app.swagger(),
  );
}
