import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { AlertService } from '../../alerts/service.ts';
import { caller } from '../auth.ts';
import { DateTime, problems, TenantParams, Uuid } from '../schemas.ts';

const Outcome = Type.Enum(['failed', 'partially_succeeded']);
const DeliveryEvent = Type.Enum(['run.failed', 'run.partially_succeeded', 'run.long_running', 'test']);
const DeliveryStatus = Type.Enum(['pending', 'delivered', 'failed']);

export const AlertTargetSchema = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    kind: Type.Literal('webhook'),
    url: Type.String({ description: 'masked: scheme, host and the first path segment' }),
    types: Type.Array(Type.String(), { description: 'operation types it alerts on; empty: all' }),
    outcomes: Type.Array(Outcome),
    longerThanMinutes: Type.Union([Type.Integer(), Type.Null()], {
      description: 'also alert on a run still active this many minutes after it was created',
    }),
    enabled: Type.Boolean(),
    createdAt: DateTime,
    updatedAt: DateTime,
    lastDelivery: Type.Union(
      [
        Type.Object({
          event: DeliveryEvent,
          status: DeliveryStatus,
          statusCode: Type.Union([Type.Integer(), Type.Null()], {
            description: "the receiver's HTTP status at the latest try; null: no answer (yet)",
          }),
          createdAt: DateTime,
          completedAt: Type.Union([DateTime, Type.Null()]),
        }),
        Type.Null(),
      ],
      { description: 'the latest delivery to the target; null: none yet' },
    ),
  },
  { $id: 'AlertTarget' },
);

const Fields = {
  name: Type.String({ minLength: 1, maxLength: 100 }),
  url: Type.String({
    minLength: 1,
    maxLength: 2000,
    description: 'http(s); loopback and private addresses are refused',
  }),
  types: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 50 }),
  outcomes: Type.Array(Outcome, { minItems: 1, maxItems: 2 }),
  longerThanMinutes: Type.Union([Type.Integer({ minimum: 1, maximum: 10080, format: 'int32' }), Type.Null()]),
  enabled: Type.Boolean(),
};

const TargetParams = Type.Object({ tenantId: Type.String({ maxLength: 100 }), targetId: Uuid });

const Delivery = Type.Object({
  id: Uuid,
  targetId: Uuid,
  runId: Type.Union([Uuid, Type.Null()]),
  event: DeliveryEvent,
  status: DeliveryStatus,
  attempts: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      at: DateTime,
      statusCode: Type.Union([Type.Integer(), Type.Null()]),
      response: Type.Union([Type.String(), Type.Null()], {
        description: 'the start of the answer, redacted',
      }),
      error: Type.Union([Type.String(), Type.Null()]),
      durationMs: Type.Integer(),
    }),
  ),
  createdAt: DateTime,
  completedAt: Type.Union([DateTime, Type.Null()]),
});

/** A tenant's alert targets (signed webhooks): owners only, since a target sends the tenant's runs out. */
export function registerAlertRoutes(root: FastifyInstance, { alerts }: { alerts: AlertService }) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const base = '/api/v1/tenants/:tenantId/alert-targets';
  const owner = { tenant: 'manage_alerts' as const };

  app.get(
    base,
    {
      config: owner,
      schema: {
        summary: "The tenant's alert targets (owners)",
        tags: ['alerts'],
        params: TenantParams,
        response: {
          200: Type.Object({ data: Type.Array(Type.Ref('AlertTarget')) }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request) => ({ data: await alerts.list(request.params.tenantId) }),
  );

  app.post(
    base,
    {
      config: owner,
      schema: {
        summary: 'Add a webhook target; its signing secret is in this response only',
        tags: ['alerts'],
        params: TenantParams,
        body: Type.Object(
          {
            name: Fields.name,
            url: Fields.url,
            types: Type.Optional(Fields.types),
            outcomes: Type.Optional(Fields.outcomes),
            longerThanMinutes: Type.Optional(Fields.longerThanMinutes),
            enabled: Type.Optional(Fields.enabled),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            target: Type.Ref('AlertTarget'),
            secret: Type.String({ description: 'the HMAC-SHA256 signing secret; shown once' }),
          }),
          ...problems(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await alerts.create(request.params.tenantId, request.body, caller(request).userId)),
  );

  app.patch(
    `${base}/:targetId`,
    {
      config: owner,
      schema: {
        summary: 'Change a target (its URL, rules, or enabled)',
        tags: ['alerts'],
        params: TargetParams,
        body: Type.Partial(Type.Object(Fields), { additionalProperties: false }),
        response: { 200: Type.Ref('AlertTarget'), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => alerts.update(request.params.tenantId, request.params.targetId, request.body),
  );

  app.delete(
    `${base}/:targetId`,
    {
      config: owner,
      schema: {
        summary: 'Remove a target and its delivery log',
        tags: ['alerts'],
        params: TargetParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await alerts.remove(request.params.tenantId, request.params.targetId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    `${base}/:targetId/test`,
    {
      config: owner,
      schema: {
        summary: 'Queue a signed test delivery to the target',
        tags: ['alerts'],
        params: TargetParams,
        response: { 202: Type.Object({ deliveryId: Uuid }), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await alerts.sendTest(request.params.tenantId, request.params.targetId)),
  );

  app.get(
    `${base}/:targetId/deliveries`,
    {
      config: owner,
      schema: {
        summary: "The target's latest deliveries, each try with the receiver's answer",
        tags: ['alerts'],
        params: TargetParams,
        response: { 200: Type.Object({ data: Type.Array(Delivery) }), ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => ({ data: await alerts.deliveries(request.params.tenantId, request.params.targetId) }),
  );
}
