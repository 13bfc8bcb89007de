import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { ScheduleService } from '../../ledger/schedules.ts';
import { caller } from '../auth.ts';
import { DateTime, enumOf, problems, TenantParams, Uuid } from '../schemas.ts';

export const ScheduleSchema = Type.Object(
  {
    id: Uuid,
    tenantId: Uuid,
    name: Type.String(),
    type: Type.String(),
    typeLabel: Type.String(),
    inputs: Type.Record(Type.String(), Type.Unknown()),
    cron: Type.String(),
    timezone: Type.String(),
    missed: enumOf(['once', 'skip'] as const),
    status: enumOf(['active', 'paused'] as const),
    pausedReason: Type.Union([Type.String(), Type.Null()], {
      description: 'why the product paused it (its creator left the tenant); null when paused by hand',
    }),
    nextFireAt: Type.Union([DateTime, Type.Null()]),
    lastFiredAt: Type.Union([DateTime, Type.Null()]),
    lastRunId: Type.Union([Uuid, Type.Null()]),
    lastError: Type.Union(
      [Type.Object({ code: Type.String(), message: Type.String(), at: DateTime }), Type.Null()],
      { description: 'why the last firing could not start its run (redacted); null once one starts' },
    ),
    createdBy: Type.Union(
      [Type.Object({ userId: Uuid, name: Type.Union([Type.String(), Type.Null()]) }), Type.Null()],
      { description: 'who created it; the name is null once they are no longer a member' },
    ),
    createdAt: DateTime,
    updatedAt: DateTime,
  },
  { $id: 'Schedule' },
);

const CreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    type: Type.String({ minLength: 1, maxLength: 100 }),
    inputs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    cron: Type.String({
      minLength: 1,
      maxLength: 120,
      description: 'five fields (minute hour day month weekday), or six with seconds first, or @daily etc.',
    }),
    timezone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone; default UTC' }),
    ),
    missed: Type.Optional(enumOf(['once', 'skip'] as const)),
  },
  { additionalProperties: false },
);

const ScheduleParams = Type.Object({ tenantId: Type.String({ maxLength: 100 }), scheduleId: Uuid });

/** Schedules per tenant: viewers read; operators and owners create, pause, resume and delete. */
export function registerScheduleRoutes(root: FastifyInstance, { schedules }: { schedules: ScheduleService }) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const base = '/api/v1/tenants/:tenantId/schedules';
  const one = `${base}/:scheduleId`;

  app.get(
    base,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'The tenant’s schedules, by name',
        tags: ['schedules'],
        params: TenantParams,
        response: {
          200: Type.Object({ data: Type.Array(Type.Ref('Schedule')) }),
          ...problems(400, 401, 404),
        },
      },
    },
    async (request) => ({ data: await schedules.list(request.params.tenantId) }),
  );

  app.post(
    base,
    {
      config: { tenant: 'operate' },
      schema: {
        summary: 'Create a schedule that starts a run of a type on a cron expression',
        tags: ['schedules'],
        params: TenantParams,
        body: CreateBody,
        description:
          'The schedule is checked as a start of its type would be, the type’s own validation included: what a start refuses (an unknown backup or baseline: 404), this refuses.',
        response: { 201: Type.Ref('Schedule'), ...problems(400, 401, 403, 404, 409, 413) },
      },
    },
    async (request, reply) => {
      const schedule = await schedules.create(request.params.tenantId, request.body, caller(request).userId);
      return reply.code(201).send(schedule);
    },
  );

  app.get(
    one,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'One schedule',
        tags: ['schedules'],
        params: ScheduleParams,
        response: { 200: Type.Ref('Schedule'), ...problems(400, 401, 404) },
      },
    },
    async (request) => schedules.get(request.params.tenantId, request.params.scheduleId),
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `${one}/${action}`,
      {
        config: { tenant: 'operate' },
        schema: {
          summary:
            action === 'pause'
              ? 'Pause a schedule (idempotent)'
              : 'Resume a paused schedule from its next firing after now (idempotent)',
          tags: ['schedules'],
          params: ScheduleParams,
          response: { 200: Type.Ref('Schedule'), ...problems(400, 401, 403, 404) },
          ...(action === 'resume'
            ? {
                description:
                  'Re-enabling checks the schedule as a start would (what it names may be gone since).',
              }
            : {}),
        },
      },
      async (request) => schedules[action](request.params.tenantId, request.params.scheduleId),
    );
  }

  app.delete(
    one,
    {
      config: { tenant: 'operate' },
      schema: {
        summary: 'Delete a schedule (its runs stay in the ledger)',
        tags: ['schedules'],
        params: ScheduleParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await schedules.delete(request.params.tenantId, request.params.scheduleId);
      return reply.code(204).send(null);
    },
  );
}
