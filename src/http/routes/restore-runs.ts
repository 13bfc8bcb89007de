import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { Initiator, Run } from '../../ledger/run.ts';
import { caller, initiatorOf } from '../auth.ts';
import { DateTime, problems, TenantParams, Uuid } from '../schemas.ts';

/**
 * What these routes need from the restore domain (src/restore's RestoreRunService fits it). The
 * routes own the HTTP contract; the domain owns restore records and their mirror in the ledger.
 * Every method is tenant-scoped and throws the typed errors of src/errors.ts (NotFoundError for an
 * id of another tenant, exactly as for an unknown one).
 */
export interface RestoreRunsApi {
  list(tenantId: string, cursor?: string | null): Promise<{ data: object[]; nextCursor: string | null }>;
  get(tenantId: string, restoreRunId: string): Promise<object>;
  create(
    tenantId: string,
    request: { backupId: string; items?: string[]; dryRun?: boolean },
    initiator: Initiator,
  ): Promise<{ restore: object; run: Run; created: boolean }>;
  retry(
    tenantId: string,
    restoreRunId: string,
    initiator: Initiator,
  ): Promise<{ restore: object; run: Run; created: boolean }>;
}

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const ErrorEntry = Type.Object({ code: Type.String(), message: Type.String() });
const RestoreRunFields = {
  id: Uuid,
  tenantId: Uuid,
  backupId: Uuid,
  status: Type.String({
    description: 'pending, running, completed, completed_with_errors, failed, cancelled',
  }),
  dryRun: Type.Boolean(),
  requestedItems: Nullable(Type.Array(Type.String())),
  version: Type.Integer(),
  initiator: Type.Object({ kind: Type.String(), userId: Nullable(Uuid), name: Type.String() }),
  error: Nullable(ErrorEntry),
  counts: Type.Record(Type.String(), Type.Integer()),
  runId: Nullable(Uuid),
  retryOf: Nullable(Uuid),
  createdAt: DateTime,
  startedAt: Nullable(DateTime),
  completedAt: Nullable(DateTime),
};
// Fields the domain adds later are still sent (additionalProperties), never silently dropped.
const RestoreRun = Type.Object(RestoreRunFields, {
  description: 'a restore domain record; `runId` is its mirrored operation run',
  additionalProperties: true,
});
const RestoreItem = Type.Object({
  family: Type.String(),
  externalId: Type.String(),
  displayName: Type.String(),
  action: Nullable(Type.String({ description: 'create, update or none (what the restore does)' })),
  result: Type.String({ description: 'pending, succeeded, failed or skipped' }),
  targetId: Nullable(Type.String()),
  error: Nullable(ErrorEntry),
});
const RestoreRunWithItems = Type.Object(
  { ...RestoreRunFields, items: Type.Array(RestoreItem) },
  { description: 'a restore domain record with its per-item results', additionalProperties: true },
);

export function registerRestoreRunRoutes(
  root: FastifyInstance,
  { restoreRuns }: { restoreRuns: RestoreRunsApi },
) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const base = '/api/v1/tenants/:tenantId/restore-runs';

  app.get(
    base,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'Restore records of the tenant, newest first',
        tags: ['restore'],
        params: TenantParams,
        querystring: Type.Object(
          { cursor: Type.Optional(Type.String({ maxLength: 300 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            data: Type.Array(RestoreRun),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...problems(400, 401, 404),
        },
      },
    },
    async (request) => {
      const page = await restoreRuns.list(request.params.tenantId, request.query.cursor ?? null);
      return page as never;
    },
  );

  app.get(
    `${base}/:restoreRunId`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'One restore record with its per-item results',
        tags: ['restore'],
        params: Type.Object({ tenantId: Type.String({ maxLength: 100 }), restoreRunId: Uuid }),
        response: { 200: RestoreRunWithItems, ...problems(400, 401, 404) },
      },
    },
    async (request) => (await restoreRuns.get(request.params.tenantId, request.params.restoreRunId)) as never,
  );

  app.post(
    base,
    {
      config: { tenant: 'operate', starts: true },
      schema: {
        summary: 'Start a restore (or a dry run) from a backup',
        tags: ['restore'],
        params: TenantParams,
        body: Type.Object(
          {
            backupId: Uuid,
            items: Type.Optional(
              Type.Array(Type.String({ minLength: 1, maxLength: 300 }), { maxItems: 1000 }),
            ),
            dryRun: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ restore: RestoreRun, run: Type.Ref('Run'), created: Type.Literal(false) }),
          202: Type.Object({ restore: RestoreRun, run: Type.Ref('Run'), created: Type.Literal(true) }),
          ...problems(400, 401, 403, 404, 409, 413, 429),
        },
      },
    },
    async (request, reply) => {
      const { restore, run, created } = await restoreRuns.create(
        request.params.tenantId,
        { backupId: request.body.backupId, items: request.body.items, dryRun: request.body.dryRun ?? false },
        initiatorOf(caller(request)),
      );
      const result = { restore: restore as Record<string, unknown>, run, created };
      return reply.code(created ? 202 : 200).send(result as never);
    },
  );

  app.post(
    `${base}/:restoreRunId/retry`,
    {
      config: { tenant: 'operate', starts: true },
      schema: {
        summary: 'Retry a failed, partially completed or cancelled restore as a new restore record',
        tags: ['restore'],
        params: Type.Object({ tenantId: Type.String({ maxLength: 100 }), restoreRunId: Uuid }),
        response: {
          202: Type.Object({ restore: RestoreRun, run: Type.Ref('Run'), created: Type.Literal(true) }),
          ...problems(400, 401, 403, 404, 409, 429),
        },
      },
    },
    async (request, reply) => {
      const { restore, run } = await restoreRuns.retry(
        request.params.tenantId,
        request.params.restoreRunId,
        initiatorOf(caller(request)),
      );
      return reply
        .code(202)
        .send({ restore: restore as Record<string, unknown>, run, created: true } as never);
    },
  );
}
