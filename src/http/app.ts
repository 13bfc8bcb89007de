import { randomUUID } from 'node:crypto';
import http from 'node:http';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { CredentialService } from '../access/credentials.ts';
import type { AccessService } from '../access/service.ts';
import type { AlertService } from '../alerts/service.ts';
import type { OperationCatalog } from '../ledger/catalog.ts';
import type { RunEventFeed } from '../ledger/event-log-feed.ts';
import type { RunEventLog } from '../ledger/event-log-service.ts';
import type { ScheduleService } from '../ledger/schedules.ts';
import type { OperationRunService } from '../ledger/service.ts';
import type { Config } from '../main/config.ts';
import type { Logger } from '../shared/logger.ts';
import { installAuth } from './auth.ts';
import { budgetKey, createBudgets } from './budgets.ts';
import { clientErrorHandler } from './client-errors.ts';
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS, guardConnections } from './connections.ts';
import { installExpensiveReads, type TenantConcurrency } from './expensive-reads.ts';
import type { Metrics } from './metrics.ts';
import { completeOpenApi } from './openapi-bounds.ts';
import { installErrorHandling, problem, SECURITY_HEADERS, sendProblem } from './problem.ts';
import { trustProxyOption } from './proxy-trust.ts';
import { AlertTargetSchema, registerAlertRoutes } from './routes/alerts.ts';
import { registerAuthRoutes } from './routes/auth.ts';
import { type GraphConnectionApi, registerGraphConnectionRoutes } from './routes/graph-connection.ts';
import { registerOperationRoutes } from './routes/operations.ts';
import { type RestoreRunsApi, registerRestoreRunRoutes } from './routes/restore-runs.ts';
import { RunEventSchema, registerRunEventRoutes } from './routes/run-events.ts';
import { registerScheduleRoutes, ScheduleSchema } from './routes/schedules.ts';
import { registerStreamRoute } from './routes/stream.ts';
import { registerSuiteReadRoutes, type SuiteReadsApi } from './routes/suite-reads.ts';
import { type Readiness, registerSystemRoutes } from './routes/system.ts';
import { registerTenantRoutes } from './routes/tenants.ts';
import { Problem, RunSchema } from './schemas.ts';
import type { RunStreamHub } from './stream-hub.ts';
import { type AccessChangeSource, type StreamLimits, StreamRegistry } from './stream-registry.ts';
import { installUi } from './ui.ts';

/** What the HTTP layer is given: services built by the composition root (src/main), never built here. */
export type HttpServices = {
  config: Pick<Config, 'trustProxy' | 'metrics'>;
  logger: Logger;
  catalog: OperationCatalog;
  runs: OperationRunService;
  /** Tenants' schedules; their routes exist only when given. */
  schedules?: ScheduleService | null;
  access: AccessService;
  credentials: CredentialService;
  hub: RunStreamHub;
  /** Notices that a credential or membership ended in any process (open streams re-check). */
  accessChanges?: AccessChangeSource | null;
  metrics: Metrics;
  readiness: () => Promise<Readiness>;
  /** The restore domain; its routes exist only when it is given. */
  restoreRuns?: RestoreRunsApi | null;
  /** Tenants' Graph connections; their routes exist only when given. */
  graphConnections?: GraphConnectionApi | null;
  /** The suite's read models (inventory, backups, drift); their routes exist only when given. */
  suiteReads?: SuiteReadsApi | null;
  /** Runs' event logs and their live feed; their routes exist only when given. */
  runEvents?: { log: RunEventLog; feed: RunEventFeed } | null;
  /** Tenants' alert targets; their routes exist only when given. */
  alerts?: AlertService | null;
};

export type HttpOptions = {
  limits?: {
    /** Sign-in attempts per client address per minute. */
    loginPerMinute?: number;
    /** Failed sign-ins per email address per 15 minutes. */
    loginFailuresPerEmail?: number;
    /** Requests per caller (the authenticated user, else the client address) per minute, on every route. */
    requestsPerMinute?: number;
    /** Starts of runs and restores (and their retries) per caller per minute, on one budget. */
    startsPerMinute?: number;
    bodyBytes?: number;
    /** Expensive reads (stats, prefix search, pages past the first) in flight per tenant (429 beyond). */
    expensiveReadsPerTenant?: number;
    /** Open event streams per user, per tenant and per process (429 beyond). */
    streams?: Partial<StreamLimits>;
  };
  streamHeartbeatMs?: number;
  /** How often an open stream re-checks that its caller may still read the tenant. */
  streamRecheckMs?: number;
  /** The cap on open connections and the timeouts that keep idle ones from holding places. */
  connections?: Partial<ConnectionLimits>;
  /** The built web UI (default web/dist); `false` serves the API alone. */
  ui?: { dir?: string } | false;
};

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The HTTP application: API, health, metrics and (later) the UI, on one Fastify instance. */
export async function buildHttpApp(services: HttpServices, options: HttpOptions = {}): Promise<HttpApp> {
  const { access, credentials, metrics, hub } = services;
  const limits = {
    loginPerMinute: 10,
    loginFailuresPerEmail: 10,
    startsPerMinute: 300,
    requestsPerMinute: 6000,
    expensiveReadsPerTenant: 4,
    bodyBytes: 64 * 1024,
    ...options.limits,
  };
  const conn = { ...DEFAULT_CONNECTION_LIMITS, ...options.connections };
  const app = Fastify({
    // Short timeouts for what a client owes us (its headers, its request, its next keep-alive
    // request), so idle sockets give their places back soon; streams write heartbeats well
    // within the idle timeout.
    serverFactory: (handler) => {
      const server = http.createServer(
        {
          headersTimeout: conn.headersTimeoutMs,
          requestTimeout: conn.requestTimeoutMs,
          keepAliveTimeout: conn.keepAliveTimeoutMs,
          connectionsCheckingInterval: conn.checkIntervalMs,
        },
        handler,
      );
      server.setTimeout(conn.idleTimeoutMs);
      return server;
    },
    loggerInstance: services.logger as FastifyBaseLogger,
    bodyLimit: limits.bodyBytes,
    trustProxy: trustProxyOption(services.config.trustProxy),
    // One line per request, written below from plain values: the process logger redacts every
    // argument, which would reduce Fastify's raw request objects to nothing.
    logController: new LogController({ disableRequestLogging: true }),
    // The request id is always ours: a client-sent `x-request-id` could otherwise make its log lines
    // pass for another request's. A harmless one is logged beside ours, so logs still join up
    // across hops.
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    childLoggerFactory: (logger, bindings, opts, raw) => {
      const given = raw.headers['x-request-id'];
      const clientRequestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : undefined;
      return logger.child(clientRequestId ? { ...bindings, clientRequestId } : bindings, opts);
    },
    // What the HTTP parser refuses (headers over the limit, a malformed request) is answered
    // before any hook runs: with the same security headers, written raw.
    clientErrorHandler,
    // No coercion: a body's `[false]` is not the string "false". Query values stay strings and
    // their schemas say so; unknown properties are refused rather than silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // Errors the router raises before any route or hook runs (a malformed URL, an overlong id).
    frameworkErrors: (err, request, reply) => {
      // No hook has run (helmet's included), so the headers every response carries are set here.
      reply.headers(SECURITY_HEADERS);
      reply.header('x-request-id', request.id);
      sendProblem(reply, problem(err.statusCode ?? 400, err.message.slice(0, 200)));
    },
    routerOptions: { maxParamLength: 200 },
  });

  // A connection with no request in progress is closed after the header timeout (or the
  // keep-alive timeout, if shorter).
  const connections = guardConnections(app.server, {
    max: conn.max,
    idleMs: Math.min(conn.headersTimeoutMs, Math.max(conn.keepAliveTimeoutMs, 1000)),
    checkIntervalMs: conn.checkIntervalMs,
  });
  const streams = new StreamRegistry(limits.streams, services.accessChanges ?? null);

  // Every route as registered, so a test can hold the OpenAPI document to all of them.
  const registeredRoutes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    if ((route.schema as { hide?: boolean } | undefined)?.hide) return; // the UI's files, not the API
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') registeredRoutes.push({ method, url: route.url });
    }
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        path: request.url.split('?')[0],
        route: request.routeOptions.url ?? null,
        statusCode: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime),
        // Who asked: the client address (after TRUST_PROXY), the caller once known, and the
        // tenant acted on once the caller was allowed in it (never a tenant it was refused).
        clientIp: request.ip,
        userId: request.principal?.userId ?? null,
        tokenId: request.principal?.tokenId ?? null,
        tenantId: request.tenantRole ? ((request.params as { tenantId?: string }).tenantId ?? null) : null,
      },
      'request completed',
    );
  });
  installErrorHandling(app);
  metrics.install(app);
  app.addSchema(Problem);
  app.addSchema(RunSchema);
  app.addSchema(ScheduleSchema);
  app.addSchema(RunEventSchema);
  app.addSchema(AlertTargetSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Opsledger API',
        version: '1.0.0',
        description:
          'The canonical ledger of long-running tenant operations. Errors are RFC 9457 problem JSON.',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API token from POST /api/v1/me/tokens',
          },
          sessionCookie: {
            type: 'apiKey',
            in: 'cookie',
            name: 'opsledger_session',
            description: 'From POST /api/v1/auth/login; writes also need the x-csrf-token header',
          },
        },
      },
      security: [{ bearerAuth: [] }, { sessionCookie: [] }],
    },
    transformObject: (documents) =>
      completeOpenApi((documents as { openapiObject: Record<string, unknown> }).openapiObject),
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(helmet, { global: true });
  await app.register(cookie);
  // One budget per caller on every route (its headers tell the caller where it stands); sign-in has
  // a tighter one of its own and starts draw on a start budget as well. The route hook that charges
  // it runs after authentication, so the caller is the user the credential proved, not the
  // credential as spelled (see budgetKey).
  await app.register(rateLimit, {
    global: true,
    max: limits.requestsPerMinute,
    timeWindow: 60_000,
    keyGenerator: budgetKey,
  });
  const budgets = createBudgets(app, { startsPerMinute: limits.startsPerMinute });
  installAuth(app, { access, credentials, chargeRefusal: budgets.chargeRefusal });
  app.addHook('onRequest', budgets.checkStarts);
  const expensiveReads = installExpensiveReads(app, { perTenant: limits.expensiveReadsPerTenant });

  registerSystemRoutes(app, {
    readiness: services.readiness,
    metrics,
    metricsAccess: services.config.metrics,
  });
  registerAuthRoutes(app, {
    access,
    credentials,
    loginPerMinute: limits.loginPerMinute,
    loginFailuresPerEmail: limits.loginFailuresPerEmail,
    streams,
  });
  registerTenantRoutes(app, { access, catalog: services.catalog, streams });
  registerOperationRoutes(app, { service: services.runs });
  if (services.schedules) registerScheduleRoutes(app, { schedules: services.schedules });
  registerStreamRoute(app, {
    hub,
    service: services.runs,
    heartbeatMs: options.streamHeartbeatMs ?? 15_000,
    recheckMs: options.streamRecheckMs ?? 15_000,
    access,
    credentials,
    registry: streams,
  });
  if (services.runEvents)
    registerRunEventRoutes(app, {
      service: services.runs,
      eventLog: services.runEvents.log,
      eventFeed: services.runEvents.feed,
      heartbeatMs: options.streamHeartbeatMs ?? 15_000,
      recheckMs: options.streamRecheckMs ?? 15_000,
      access,
      credentials,
      registry: streams,
    });
  if (services.alerts) registerAlertRoutes(app, { alerts: services.alerts });
  if (services.restoreRuns) registerRestoreRunRoutes(app, { restoreRuns: services.restoreRuns });
  if (services.graphConnections)
    registerGraphConnectionRoutes(app, { connections: services.graphConnections });
  if (services.suiteReads) registerSuiteReadRoutes(app, { reads: services.suiteReads });
  if (options.ui !== false) await installUi(app, options.ui ?? {});

  app.addHook('onClose', async () => {
    await hub.close();
    await streams.close();
  });

  app.decorate('opsledger', {
    hub,
    streams,
    access,
    credentials,
    registeredRoutes,
    expensiveReads,
    connections,
  });
  return app;
}

/** The parts of the HTTP app that its owner (the serve command, tests) may reach. */
export type HttpParts = {
  hub: RunStreamHub;
  streams: StreamRegistry;
  access: AccessService;
  credentials: CredentialService;
  registeredRoutes: { method: string; url: string }[];
  /** Expensive reads in flight per tenant. */
  expensiveReads: TenantConcurrency;
  /** Open connections (capped). */
  connections: { readonly open: number };
};

declare module 'fastify' {
  interface FastifyInstance {
    opsledger: HttpParts;
  }
}

export type HttpApp = FastifyInstance;
