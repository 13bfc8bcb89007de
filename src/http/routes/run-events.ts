import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { RUN_EVENT_LEVELS } from '../../ledger/event-log.ts';
import type { RunEventFeed } from '../../ledger/event-log-feed.ts';
import { EVENT_PAGE_LIMIT, type RunEventLog } from '../../ledger/event-log-service.ts';
import type { OperationRunService } from '../../ledger/service.ts';
import { isUuid } from '../../shared/ids.ts';
import { DateTime, enumOf, problems, RunParams, Uuid } from '../schemas.ts';
import { type EventStream, type EventStreamOptions, eventStreams } from '../sse.ts';

export const RunEventSchema = Type.Object(
  {
    id: Uuid,
    runId: Uuid,
    at: DateTime,
    attempt: Type.Integer({ description: 'the attempt of the run it belongs to (0: before the first)' }),
    kind: Type.String({
      description:
        'attempt.started, attempt.failed, attempt.timed_out, attempt.reaped, retry.scheduled, run.cancel_requested, run.completed, graph.throttled, graph.retry, item.failed, progress, log, events.dropped, …',
    }),
    level: enumOf(RUN_EVENT_LEVELS),
    message: Type.String({ description: 'redacted, up to 4,000 characters' }),
    data: Type.Record(Type.String(), Type.Unknown(), { description: 'small structured data, redacted' }),
  },
  { $id: 'RunEvent' },
);

const EventsQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 100 })),
    limit: Type.Optional(
      Type.Integer({
        minimum: EVENT_PAGE_LIMIT.min,
        maximum: EVENT_PAGE_LIMIT.max,
        format: 'int32',
        description: `events per page, default ${EVENT_PAGE_LIMIT.default}`,
      }),
    ),
    level: Type.Optional(enumOf(RUN_EVENT_LEVELS)),
    attempt: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, format: 'int32' })),
  },
  { additionalProperties: false },
);

export type RunEventRouteOptions = EventStreamOptions & {
  service: OperationRunService;
  eventLog: RunEventLog;
  eventFeed: RunEventFeed;
};

/** A run's event log: a keyset-paged read, and a live stream of the events as they are written. */
export function registerRunEventRoutes(root: FastifyInstance, options: RunEventRouteOptions) {
  const { service, eventLog, eventFeed } = options;
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const base = '/api/v1/tenants/:tenantId/operations/:runId/events';
  const startStream = eventStreams(app, options);

  app.get(
    base,
    {
      config: { tenant: 'read' },
      preValidation: async (request) => {
        const q = request.query as Record<string, unknown>;
        for (const key of ['limit', 'attempt'])
          if (typeof q[key] === 'string' && /^\d{1,4}$/.test(q[key] as string)) q[key] = Number(q[key]);
      },
      schema: {
        summary: "A run's events, oldest first (keyset paged)",
        description:
          'What happened inside the run: attempts, waits, retries and their reasons, per-item failures and what its operation type logged. `level` keeps events of that level and above; `attempt` those of one attempt. Pass `nextCursor` as `cursor` for the next page.',
        tags: ['operations'],
        params: RunParams,
        querystring: EventsQuery,
        response: {
          200: Type.Object({
            data: Type.Array(Type.Ref('RunEvent')),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...problems(400, 401, 404),
        },
      },
    },
    async (request) => eventLog.page(request.params.tenantId, request.params.runId, request.query),
  );

  app.get(
    `${base}/stream`,
    {
      exposeHeadRoute: false,
      config: { tenant: 'read' },
      schema: {
        summary: "Server-Sent Events: the run's events as they are written",
        description:
          'First the events already written (after the one named by `Last-Event-ID`, when given), then each new one as it is written, as `event: event` with `id: <event id>` and the RunEvent as JSON, in order. A client that reconnects with `Last-Event-ID` misses nothing.',
        tags: ['operations'],
        params: RunParams,
        produces: ['text/event-stream'],
        response: {
          200: Type.String({ description: 'text/event-stream; `event: event` with `data: <RunEvent JSON>`' }),
          ...problems(400, 401, 404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const tenantId = request.params.tenantId.toLowerCase();
      const runId = request.params.runId.toLowerCase();
      // A run of another tenant is as unknown as a run that never was.
      await service.detail(tenantId, runId);
      const given = request.headers['last-event-id'];
      let lastId = typeof given === 'string' && isUuid(given) ? given.toLowerCase() : null;
      let stream: EventStream | null = null;
      let reading = false;
      let again = false;
      // One reader at a time; a notice that comes while it reads makes it read once more.
      const pull = async () => {
        const live = stream;
        if (!live) return;
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        try {
          do {
            again = false;
            for (;;) {
              const events = await eventLog.after(tenantId, runId, lastId, 200);
              for (const e of events) {
                live.write(`id: ${e.id}\nevent: event\ndata: ${JSON.stringify(e)}\n\n`);
                lastId = e.id;
              }
              if (events.length < 200 || !live.open) break;
            }
          } while (again && live.open);
        } catch (err) {
          request.log.warn({ err }, 'run event stream read failed');
        } finally {
          reading = false;
        }
      };
      // Listening starts before the first read, so nothing written between the two is missed; a
      // notice that comes before the stream has started is covered by that first read.
      stream = await startStream(request, reply, tenantId, () =>
        eventFeed.subscribe(runId, () => void pull()),
      );
      void pull();
    },
  );
}
