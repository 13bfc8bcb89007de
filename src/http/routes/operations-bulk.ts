import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { BULK_MAX_RUNS } from '../../ledger/bulk.ts';
import type { OperationRunService } from '../../ledger/service.ts';
import { caller, initiatorOf } from '../auth.ts';
import { problems, TenantParams } from '../schemas.ts';

const BulkBody = Type.Object(
  {
    runIds: Type.Array(Type.String({ minLength: 1, maxLength: 36 }), {
      minItems: 1,
      maxItems: BULK_MAX_RUNS,
      description: `run ids, at most ${BULK_MAX_RUNS}; each is answered on its own`,
    }),
  },
  { additionalProperties: false },
);

const RunId = Type.String({ description: 'the id as sent (lower-cased)' });

const CancelResults = Type.Object({
  results: Type.Array(
    Type.Union([
      Type.Object({
        runId: RunId,
        result: Type.Enum(['cancelled', 'cancel_requested', 'already_completed']),
        run: Type.Ref('Run'),
      }),
      Type.Object({ runId: RunId, result: Type.Literal('not_found') }),
    ]),
  ),
});

const RetryResults = Type.Object({
  results: Type.Array(
    Type.Union([
      Type.Object({
        runId: RunId,
        result: Type.Enum(['retried', 'already_retried']),
        run: Type.Ref('Run', { description: 'the retry: new, or the one already active or succeeded' }),
      }),
      Type.Object({ runId: RunId, result: Type.Literal('not_retryable'), reason: Type.String() }),
      Type.Object({ runId: RunId, result: Type.Literal('not_found') }),
    ]),
  ),
});

/**
 * Cancel and retry of a selection, for the list's bulk actions and the command line. The caller's
 * role is checked for the tenant (operators and owners) before any run is touched; each run is
 * then its own transaction and its own answer. Ids that are malformed, unknown or another
 * tenant's all answer `not_found`, exactly alike.
 */
export function registerBulkRoutes(
  app: FastifyInstance<any, any, any, any, TypeBoxTypeProvider>,
  { service }: { service: OperationRunService },
) {
  const base = '/api/v1/tenants/:tenantId/operations';

  app.post(
    `${base}/bulk-cancel`,
    {
      config: { tenant: 'operate' },
      schema: {
        summary: 'Cancel several runs (idempotent; one result per run)',
        tags: ['operations'],
        params: TenantParams,
        body: BulkBody,
        response: { 200: CancelResults, ...problems(400, 401, 403, 404, 413) },
      },
    },
    async (request) => ({ results: await service.bulkCancel(request.params.tenantId, request.body.runIds) }),
  );

  app.post(
    `${base}/bulk-retry`,
    {
      config: {
        tenant: 'operate',
        starts: true,
      },
      schema: {
        summary: 'Retry several failed, partial or cancelled runs (idempotent; one result per run)',
        description:
          'A run whose retry is already active or has succeeded is not retried again: its result is `already_retried` with that retry, so a repeated request starts nothing more.',
        tags: ['operations'],
        params: TenantParams,
        body: BulkBody,
        response: { 200: RetryResults, ...problems(400, 401, 403, 404, 413, 429) },
      },
    },
    async (request) => ({
      results: await service.bulkRetry(
        request.params.tenantId,
        request.body.runIds,
        initiatorOf(caller(request)),
      ),
    }),
  );
}
