import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { LIST_LIMIT } from '../../ledger/cursor.ts';
import type { OperationRunService } from '../../ledger/service.ts';
import { STATS_WINDOWS, type StatsWindow } from '../../ledger/stats.ts';
import { INITIATOR_KINDS, RUN_OUTCOMES, RUN_STATUSES } from '../../ledger/vocabulary.ts';
import { caller, initiatorOf } from '../auth.ts';
import { DateTime, enumOf, problems, RunParams, TenantParams } from '../schemas.ts';

const ListQuery = Type.Object(
  {
    type: Type.Optional(Type.String({ maxLength: 100 })),
    status: Type.Optional(enumOf(RUN_STATUSES)),
    outcome: Type.Optional(enumOf(RUN_OUTCOMES)),
    initiator: Type.Optional(enumOf(INITIATOR_KINDS)),
    since: Type.Optional(DateTime),
    until: Type.Optional(DateTime),
    q: Type.Optional(Type.String({ maxLength: 36, description: 'a run id or the start of one' })),
    limit: Type.Optional(
      Type.Integer({
        minimum: LIST_LIMIT.min,
        maximum: LIST_LIMIT.max,
        format: 'int32',
        description: `runs per page, default ${LIST_LIMIT.default}`,
      }),
    ),
    cursor: Type.Optional(Type.String({ maxLength: 300 })),
  },
  { additionalProperties: false },
);

const StartBody = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 100 }),
    inputs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

const StatsSchema = Type.Object({
  window: enumOf(Object.keys(STATS_WINDOWS) as StatsWindow[]),
  since: DateTime,
  data: Type.Array(
    Type.Object({
      type: Type.String(),
      typeLabel: Type.String(),
      total: Type.Integer(),
      counts: Type.Record(Type.String(), Type.Integer()),
      p50DurationMs: Type.Union([Type.Integer(), Type.Null()]),
      p95DurationMs: Type.Union([Type.Integer(), Type.Null()]),
    }),
  ),
  days: Type.Array(
    Type.Object({
      day: Type.String(),
      type: Type.String(),
      counts: Type.Record(Type.String(), Type.Integer()),
    }),
    { description: 'runs created per UTC day and type, by outcome' },
  ),
});

export type OperationRouteOptions = { service: OperationRunService };

/** The ledger's runs per tenant: thin handlers over OperationRunService, gated by route config. */
export function registerOperationRoutes(root: FastifyInstance, { service }: OperationRouteOptions) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const base = '/api/v1/tenants/:tenantId/operations';

  app.get(
    base,
    {
      config: {
        tenant: 'read',
        // A prefix search or a page past the first can read far more than a page's rows.
        expensive: (request) => {
          const q = request.query as { q?: string; cursor?: string };
          return Boolean(q.q || q.cursor);
        },
      },
      // Query values are text and the validator coerces nothing; the one number is read here, so
      // that its schema (and the OpenAPI document) can say integer.
      preValidation: async (request) => {
        const q = request.query as Record<string, unknown>;
        if (typeof q.limit === 'string' && /^\d{1,4}$/.test(q.limit)) q.limit = Number(q.limit);
      },
      schema: {
        summary: 'List runs, newest first (keyset paged)',
        tags: ['operations'],
        params: TenantParams,
        querystring: ListQuery,
        response: {
          200: Type.Object({
            data: Type.Array(Type.Ref('Run')),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...problems(400, 401, 404, 429),
        },
      },
    },
    async (request) => service.list(request.params.tenantId, request.query),
  );

  app.get(
    `${base}/stats`,
    {
      config: { tenant: 'read', expensive: () => true },
      schema: {
        summary: 'Per type: counts by outcome and p50/p95 duration over a window',
        tags: ['operations'],
        params: TenantParams,
        querystring: Type.Object(
          { window: Type.Optional(enumOf(Object.keys(STATS_WINDOWS) as StatsWindow[])) },
          { additionalProperties: false },
        ),
        response: { 200: StatsSchema, ...problems(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const window = (request.query.window ?? '24h') as StatsWindow;
      const stats = await service.stats(request.params.tenantId, window);
      return { ...stats, days: await service.dailyCounts(request.params.tenantId, window) };
    },
  );

  app.get(
    `${base}/:runId`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'One run',
        tags: ['operations'],
        params: RunParams,
        response: { 200: Type.Ref('Run'), ...problems(400, 401, 404) },
      },
    },
    async (request) => service.detail(request.params.tenantId, request.params.runId),
  );

  app.post(
    base,
    {
      config: {
        tenant: 'operate',
        starts: true,
      },
      schema: {
        summary: 'Start a run (or get the identical active one)',
        tags: ['operations'],
        params: TenantParams,
        body: StartBody,
        response: {
          200: Type.Object({ run: Type.Ref('Run'), created: Type.Literal(false) }),
          202: Type.Object({ run: Type.Ref('Run'), created: Type.Literal(true) }),
          ...problems(400, 401, 403, 404, 409, 413, 429),
        },
      },
    },
    async (request, reply) => {
      const result = await service.start({
        tenantId: request.params.tenantId,
        type: request.body.type,
        inputs: request.body.inputs ?? {},
        initiator: initiatorOf(caller(request)),
      });
      return result.created
        ? reply.code(202).send({ run: result.run, created: true })
        : { run: result.run, created: false as const };
    },
  );

  app.post(
    `${base}/:runId/cancel`,
    {
      config: { tenant: 'operate' },
      schema: {
        summary: 'Cancel a queued or running run',
        tags: ['operations'],
        params: RunParams,
        response: { 200: Type.Object({ run: Type.Ref('Run') }), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => ({
      run: await service.cancel(request.params.tenantId, request.params.runId, initiatorOf(caller(request))),
    }),
  );

  app.post(
    `${base}/:runId/retry`,
    {
      config: {
        tenant: 'operate',
        starts: true,
      },
      schema: {
        summary: 'Start a new run from a failed, partial or cancelled one',
        tags: ['operations'],
        params: RunParams,
        response: { 202: Type.Object({ run: Type.Ref('Run') }), ...problems(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const run = await service.retry(
        request.params.tenantId,
        request.params.runId,
        initiatorOf(caller(request)),
      );
      return reply.code(202).send({ run });
    },
  );
}
