import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { CredentialService } from '../../access/credentials.ts';
import type { AccessService } from '../../access/service.ts';
import type { OperationRunService } from '../../ledger/service.ts';
import { authenticate } from '../auth.ts';
import { SECURITY_HEADERS } from '../problem.ts';
import { problems, TenantParams } from '../schemas.ts';
import type { RunStreamHub } from '../stream-hub.ts';
import type { StreamRegistry } from '../stream-registry.ts';

// A client that reads slower than runs change is cut off rather than buffered without bound; it
// reconnects (EventSource does so by itself) and reloads the list.
const MAX_BUFFERED_BYTES = 1024 * 1024;

export type StreamRouteOptions = {
  hub: RunStreamHub;
  service: OperationRunService;
  heartbeatMs: number;
  /**
   * How often an open stream re-checks its caller: a revoked token, an ended session or a removed
   * membership closes the stream within this time instead of leaving it open for good.
   */
  recheckMs: number;
  access: AccessService;
  credentials: CredentialService;
  /** Caps open streams and ends those whose session, token or membership ends. */
  registry: StreamRegistry;
};

class TooManyStreams extends Error {
  statusCode = 429;
  headers = { 'retry-after': '30' };
  constructor() {
    super('too many open streams; close one and retry');
  }
}

/** Server-Sent Events of one tenant's run changes, authorised like the list. */
export function registerStreamRoute(
  root: FastifyInstance,
  { hub, service, heartbeatMs, recheckMs, access, credentials, registry }: StreamRouteOptions,
) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const connections = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...connections]) end();
  });

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
      const principal = request.principal!;
      let open = true;
      // Whether the caller's credential and membership still hold, read afresh.
      const stillAllowed = () =>
        authenticate(request, credentials)
          .then((p) => access.authorize(p, tenantId, 'read'))
          .then(() => true);
      const release = registry.acquire(
        { userId: principal.userId, tenantId, sessionId: principal.sessionId, tokenId: principal.tokenId },
        () => end(),
        stillAllowed,
      );
      if (!release) throw new TooManyStreams();
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
        'x-request-id': String(request.id),
      });
      const write = (chunk: string) => {
        if (!open) return;
        res.write(chunk);
        if (res.writableLength > MAX_BUFFERED_BYTES) end();
      };
      const unsubscribe = hub.subscribe(tenantId, {
        send: (row) => write(`event: run\ndata: ${JSON.stringify(service.present(row))}\n\n`),
        reload: () => write(`event: reload\ndata: ${JSON.stringify({ tenantId })}\n\n`),
        end: () => end(),
      });
      const heartbeat = setInterval(() => write(': heartbeat\n\n'), heartbeatMs);
      // Access changes (any process) end a stream within a second; the periodic re-check is the
      // backstop for what no notice announces (an expiry) and for a lost LISTEN connection.
      const recheck = setInterval(() => {
        stillAllowed().catch(() => end());
      }, recheckMs);
      function end() {
        if (!open) return;
        open = false;
        release!();
        clearInterval(heartbeat);
        clearInterval(recheck);
        unsubscribe();
        connections.delete(end);
        res.end();
      }
      connections.add(end);
      res.on('close', end);
      write('retry: 3000\n: connected\n\n');
    },
  );
}
