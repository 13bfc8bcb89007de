import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { OperationRunService } from '../../ledger/service.ts';
import { problems, TenantParams } from '../schemas.ts';
import { type EventStreamOptions, eventStreams } from '../sse.ts';
import type { RunStreamHub } from '../stream-hub.ts';

export type StreamRouteOptions = EventStreamOptions & {
  hub: RunStreamHub;
  service: OperationRunService;
};

/** Server-Sent Events of one tenant's run changes, authorised like the list. */
export function registerStreamRoute(root: FastifyInstance, options: StreamRouteOptions) {
  const { hub, service, registry } = options;
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const startStream = eventStreams(app, options);

  app.get(
    '/api/v1/tenants/:tenantId/operations/stream',
    {
      // A HEAD would subscribe and then hold the connection with nothing to send.
      exposeHeadRoute: false,
      config: { tenant: 'read' },
      schema: {
        summary:
          'Server-Sent Events: a `run` event (the Run as JSON) for each change of a run of this tenant',
        description:
          'Each change of a run of this tenant is sent once, as `event: run` with the Run as it is after the change, in the order the changes were committed, whichever process made them. Heartbeats of a running run are not changes. When many runs change in one statement (a history import, seeding, pruning) the stream sends `event: reload` with `data: {"tenantId": …}` instead of one event per run: the client reads the list afresh (reloads that arrive together, as a large prune sends them batch by batch, can be read once). A client that reconnects also reads the list afresh, since changes made while it was away are not replayed.',
        tags: ['operations'],
        params: TenantParams,
        produces: ['text/event-stream'],
        response: {
          200: Type.String({
            description:
              'text/event-stream; `event: run` with `data: <Run JSON>`; `event: reload` with `data: {"tenantId": "<id>"}`; comments as heartbeats',
          }),
          ...problems(401, 404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      // Listening starts before the response does, so a database failure is still a 503 problem.
      await hub.ready();
      await registry.ready();
      const tenantId = request.params.tenantId.toLowerCase();
      await startStream(request, reply, tenantId, (stream) =>
        hub.subscribe(tenantId, {
          send: (row) => stream.write(`event: run\ndata: ${JSON.stringify(service.present(row))}\n\n`),
          reload: () => stream.write(`event: reload\ndata: ${JSON.stringify({ tenantId })}\n\n`),
          end: () => stream.end(),
        }),
      );
    },
  );
}
