import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import { LIST_LIMIT } from '../../ledger/cursor.ts';
import type { OperationRunService } from '../../ledger/service.ts';
import { STATS_WINDOWS, type StatsWindow } from '../../ledger/stats.ts';
import { INITIATOR_KINDS, RUN_OUTCOMES, RUN_STATUSES } from '../../ledger/vocabulary.ts';
import { caller, initiatorOf } from '../auth.ts';
import { DateTime, enumOf, problems, RunParams, RunSchema, TenantParams, Uuid } from '../schemas.ts';
import { registerBulkRoutes } from './operations-bulk.ts';

export const ListQuery = Type.Object(
  {
    type: Type.Optional(Type.String({ maxLength: 100 })),
    status: Type.Optional(enumOf(RUN_STATUSES)),
    outcome: Type.Optional(enumOf(RUN_OUTCOMES)),
    initiator: Type.Optional(enumOf(INITIATOR_KINDS)),
    initiatorUserId: Type.Optional(
      Type.String({ maxLength: 36, description: 'runs this user started: a user id, or `me`' }),
    ),
    dryRun: Type.Optional(
      Type.Enum(['true', 'false'], {
        description: '`true`: only dry runs (runs whose inputs say `dryRun: true`); `false`: none of them',
      }),
    ),
    since: Type.Optional(DateTime),
    until: Type.Optional(DateTime),
    q: Type.Optional(
      Type.String({
        maxLength: 36,
        description:
          'a run number (`#123`, or `123`, which also matches ids starting so), a run id or the start of one',
      }),
    ),
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

const DryRun = Type.Boolean({
  description:
    "true: this row counts the type's dry runs (runs whose inputs say `dryRun: true`; they change nothing), which no other row includes",
});

const StatsSchema = Type.Object({
  window: enumOf(Object.keys(STATS_WINDOWS) as StatsWindow[]),
  since: DateTime,
  data: Type.Array(
    Type.Object({
      type: Type.String(),
      typeLabel: Type.String(),
      dryRun: DryRun,
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
      dryRun: DryRun,
      counts: Type.Record(Type.String(), Type.Integer()),
    }),
    { description: "runs created per UTC day and type (a type's dry runs apart), by outcome" },
  ),
});

const RunDetail = Type.Object({
  ...RunSchema.properties,
  retries: Type.Array(
    Type.Object({
      id: Uuid,
      number: Type.Integer({ format: 'int32' }),
      status: enumOf(RUN_STATUSES),
      outcome: enumOf(RUN_OUTCOMES),
    }),
    { description: 'runs started as retries of this one, newest first (at most 20)' },
  ),
});

/** The list's query with `initiatorUserId=me` read as the caller's own user id. */
function withMe(request: FastifyRequest, q: Static<typeof ListQuery>) {
  return q.initiatorUserId === 'me' ? { ...q, initiatorUserId: caller(request).userId } : q;
}

const InsightsSchema = Type.Object({
  failureRates: Type.Array(
    Type.Object({
      type: Type.String(),
      typeLabel: Type.String(),
      dryRun: DryRun,
      total: Type.Integer(),
      failed: Type.Integer(),
      previousTotal: Type.Integer(),
      previousFailed: Type.Integer(),
    }),
  ),
  slowest: Type.Array(Type.Ref('Run')),
  recentFailures: Type.Array(Type.Ref('Run')),
  hours: Type.Array(
    Type.Object({
      hour: Type.String(),
      type: Type.String(),
      dryRun: DryRun,
      counts: Type.Record(Type.String(), Type.Integer()),
    }),
  ),
});

export type OperationRouteOptions = { service: OperationRunService };

/** The ledger's runs per tenant: thin handlers over OperationRunService, gated by route config. */
export function registerOperationRoutes(root: FastifyInstance, { service }: OperationRouteOptions) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const base = '/api/v1/tenants/:tenantId/operations';
  registerBulkRoutes(app, { service });

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
    async (request) => service.list(request.params.tenantId, withMe(request, request.query)),
  );

  app.get(
    `${base}/count`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'How many runs match the list filters, counted up to 1,000',
        description:
          'Takes the list filters (cursor and limit are ignored). `capped` is true when more than 1,000 match: show "1,000+". The count never walks a tenant\'s whole history.',
        tags: ['operations'],
        params: TenantParams,
        querystring: ListQuery,
        response: {
          200: Type.Object({ total: Type.Integer({ minimum: 0, maximum: 1000 }), capped: Type.Boolean() }),
          ...problems(400, 401, 404),
        },
      },
    },
    async (request) => service.count(request.params.tenantId, withMe(request, request.query)),
  );

  app.get(
    `${base}/stats`,
    {
      config: { tenant: 'read', expensive: () => true },
      schema: {
        summary: 'Per type: counts by outcome and p50/p95 duration over a window',
        description:
          "A type's dry runs (inputs `dryRun: true`) are a row of their own (`dryRun: true`), so a rehearsal never counts as the work it rehearses.",
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
    `${base}/insights`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'Is something wrong? Failure rate per type with its trend, slowest and latest failed runs',
        description:
          "Over the window (default 24h): per type (a type's dry runs apart, `dryRun: true`), runs and failed runs, and the same over the window before (the trend); the 5 slowest completed runs; the 5 most recently failed; and for 24h, runs per UTC hour and type by outcome.",
        tags: ['operations'],
        params: TenantParams,
        querystring: Type.Object(
          { window: Type.Optional(enumOf(Object.keys(STATS_WINDOWS) as StatsWindow[])) },
          { additionalProperties: false },
        ),
        response: { 200: InsightsSchema, ...problems(400, 401, 404) },
      },
    },
    async (request) =>
      service.insights(request.params.tenantId, (request.query.window ?? '24h') as StatsWindow),
  );

  app.get(
    `${base}/:runId`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'One run, with the runs that retry it',
        tags: ['operations'],
        params: RunParams,
        response: { 200: RunDetail, ...problems(400, 401, 404) },
      },
    },
    async (request) => {
      const run = await service.detail(request.params.tenantId, request.params.runId);
      const retries = await service.retries(request.params.tenantId, run.id);
      return {
        ...run,
        retries: retries.map((r) => ({ id: r.id, number: r.number, status: r.status, outcome: r.outcome })),
      };
    },
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
