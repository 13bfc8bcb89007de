import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CredentialService } from '../access/credentials.ts';
import type { AccessService } from '../access/service.ts';
import { authenticate } from './auth.ts';
import { SECURITY_HEADERS } from './problem.ts';
import type { StreamRegistry } from './stream-registry.ts';

// A client that reads slower than events arrive is cut off rather than buffered without bound; it
// reconnects (EventSource does so by itself) and reads afresh.
const MAX_BUFFERED_BYTES = 1024 * 1024;

class TooManyStreams extends Error {
  statusCode = 429;
  headers = { 'retry-after': '30' };
  constructor() {
    super('too many open streams; close one and retry');
  }
}

export type EventStreamOptions = {
  heartbeatMs: number;
  /**
   * How often an open stream re-checks its caller: a revoked token, an ended session or a removed
   * membership closes the stream within this time even when no notice announced it (an expiry, a
   * lost LISTEN connection).
   */
  recheckMs: number;
  access: AccessService;
  credentials: CredentialService;
  /** Caps open streams and ends those whose session, token or membership ends (any process). */
  registry: StreamRegistry;
};

export type EventStream = {
  /** Writes one SSE chunk; nothing once the stream has ended. */
  write(chunk: string): void;
  end(): void;
  readonly open: boolean;
};

/**
 * The Server-Sent Events streams of one set of routes: each holds a slot of the registry, sends
 * heartbeats, re-checks its caller, and ends when the server closes. Every stream of the API opens
 * here, so all of them are capped, authorised and ended alike.
 */
export function eventStreams(app: FastifyInstance, options: EventStreamOptions) {
  const { access, credentials, registry } = options;
  const connections = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...connections]) end();
  });

  /**
   * Takes a slot, subscribes (`subscribe` returns its unsubscribe), then answers 200 and starts
   * the stream. A refused slot is a 429 and a failed subscription (the database) stays a problem
   * answer: neither has sent anything yet. No event can be written between the subscription and
   * the response's head: nothing awaits in between.
   */
  return async function start(
    request: FastifyRequest,
    reply: FastifyReply,
    tenantId: string,
    subscribe: (stream: EventStream) => Promise<() => void> | (() => void),
  ): Promise<EventStream> {
    const principal = request.principal!;
    let open = true;
    let started = false;
    let unsubscribe: (() => void) | null = null;
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
    const res = reply.raw;
    let heartbeat: NodeJS.Timeout | undefined;
    let recheck: NodeJS.Timeout | undefined;
    const stream: EventStream = {
      write(chunk) {
        if (!open || !started) return;
        res.write(chunk);
        if (res.writableLength > MAX_BUFFERED_BYTES) end();
      },
      end: () => end(),
      get open() {
        return open;
      },
    };
    function end() {
      if (!open) return;
      open = false;
      release!();
      clearInterval(heartbeat);
      clearInterval(recheck);
      unsubscribe?.();
      connections.delete(end);
      if (started) res.end();
    }
    try {
      unsubscribe = await subscribe(stream);
    } catch (err) {
      end();
      throw err;
    }
    // Ended while subscribing (the caller's access ended): the next connect is refused.
    if (!open) unsubscribe();
    reply.hijack();
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
      'x-request-id': String(request.id),
    });
    started = true;
    if (!open) {
      res.end();
      return stream;
    }
    heartbeat = setInterval(() => stream.write(': heartbeat\n\n'), options.heartbeatMs);
    // Access changes (any process) end a stream within a second; the periodic re-check is the
    // backstop for what no notice announces.
    recheck = setInterval(() => {
      stillAllowed().catch(() => end());
    }, options.recheckMs);
    connections.add(end);
    res.on('close', end);
    stream.write('retry: 3000\n: connected\n\n');
    return stream;
  };
}
