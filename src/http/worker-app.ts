import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Config } from '../main/config.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from './metrics.ts';
import { installErrorHandling, SECURITY_HEADERS } from './problem.ts';
import { type Readiness, registerProbeRoutes } from './routes/system.ts';
import { Problem } from './schemas.ts';

/**
 * What `opsledger worker` answers on its own port (WORKER_PORT): liveness, readiness and the
 * metrics of the runs it executes. No API, no UI, nothing about any tenant but counts by type.
 */
export async function buildWorkerHttpApp(services: {
  config: Pick<Config, 'metrics'>;
  logger: Logger;
  metrics: Metrics;
  readiness: () => Promise<Readiness>;
}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024,
  });
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  installErrorHandling(app);
  services.metrics.install(app);
  app.addSchema(Problem);
  registerProbeRoutes(app, {
    readiness: services.readiness,
    metrics: services.metrics,
    metricsAccess: services.config.metrics,
  });
  return app;
}
