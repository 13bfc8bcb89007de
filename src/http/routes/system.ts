import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { Config } from '../../main/config.ts';
import { UnauthorizedError } from '../../shared/errors.ts';
import type { Metrics } from '../metrics.ts';
import { problems } from '../schemas.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest();

const Status = Type.Object({ status: Type.String() }, { additionalProperties: true });
const Health = Type.Object({
  status: Type.String(),
  database: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
});

/** The answer of a readiness probe: ready, or why not. */
export type Readiness = { ready: true; database: string } | { ready: false; reason: string };

type ProbeDeps = { readiness: () => Promise<Readiness>; metrics: Metrics; metricsAccess: Config['metrics'] };

/** Liveness, readiness, metrics and the OpenAPI document: public, and free of tenant data. */
export function registerSystemRoutes(app: FastifyInstance, deps: ProbeDeps) {
  registerProbeRoutes(app, deps);
  app.get(
    '/api/v1/openapi.json',
    {
      config: { auth: 'public' as const },
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

/** Liveness, readiness and metrics: what a server and a worker alone both answer. */
export function registerProbeRoutes(app: FastifyInstance, deps: ProbeDeps) {
  const { readiness, metrics } = deps;
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
      const state = await readiness().catch(() => ({
        ready: false as const,
        reason: 'database unreachable',
      }));
      if (!state.ready) return reply.code(503).send({ status: 'unavailable', reason: state.reason });
      return { status: 'ready', database: state.database };
    },
  );

  // Counts of every tenant's runs: served only as the METRICS setting says.
  const metricsSetting = deps.metricsAccess;
  if (metricsSetting.mode !== 'off') {
    const expected = metricsSetting.mode === 'token' ? sha256(metricsSetting.token) : null;
    app.get(
      '/metrics',
      {
        ...publicRoute,
        schema: {
          summary: 'Prometheus metrics (METRICS=open, or token:<secret> sent as a Bearer token)',
          tags: ['system'],
          security: [],
          produces: ['text/plain'],
          response: { 200: Type.String({ maxLength: 10_000_000 }), ...problems(401, 503) },
        },
      },
      async (request, reply) => {
        if (expected) {
          const given = /^Bearer +(\S+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
          if (!timingSafeEqual(sha256(given), expected))
            throw new UnauthorizedError('send the metrics token');
        }
        const text = await metrics.registry.metrics();
        return reply.type(metrics.registry.contentType).send(text);
      },
    );
  }
}
