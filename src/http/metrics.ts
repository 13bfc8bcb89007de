import type { FastifyInstance } from 'fastify';
import { Histogram } from 'prom-client';
import { createLedgerMetrics, type LedgerMetricsSources } from '../ledger/metrics.ts';

export type MetricsSources = LedgerMetricsSources;

/**
 * Prometheus metrics of a server process: the ledger's (src/ledger/metrics.ts, which every process
 * serving /metrics shares) and the HTTP request histogram. Run counters follow the changes this
 * process makes (a server also runs a worker), so they are per process as Prometheus expects; the
 * gauges read the database at scrape time from small indexed sets (active runs only, never history).
 */
export function createMetrics(sources: MetricsSources) {
  const ledger = createLedgerMetrics(sources);
  const { registry } = ledger;
  const http = new Histogram({
    name: 'opsledger_http_request_duration_seconds',
    help: 'HTTP request latency by route template, method and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  return {
    registry,
    install(app: FastifyInstance) {
      app.addHook('onResponse', async (request, reply) => {
        http.observe(
          {
            method: request.method,
            route: request.routeOptions.url ?? 'unmatched',
            status_code: String(reply.statusCode),
          },
          reply.elapsedTime / 1000,
        );
      });
      app.addHook('onClose', async () => {
        ledger.close();
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
