import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ReadReplica } from '../db/read-replica.ts';
import type { RunRow } from '../ledger/run.ts';
import type { RunEvents } from '../ledger/run-events.ts';

/** What the metrics read: run changes as they happen, and two cheap samples at scrape time. */
export type MetricsSources = {
  events: RunEvents;
  /** Queued and running runs across tenants, by status. */
  activeRunCounts(): Promise<{ status: string; n: number }[]>;
  /** Jobs waiting in the run queue. */
  queueDepth(): Promise<number>;
  /** Mirrored runs marked as disagreeing with their domain record, all tenants. */
  divergentRunCount?(): Promise<number>;
  /** The read replica, when DATABASE_READ_URL is set: which side served the monitoring reads. */
  readReplica?: ReadReplica | null;
};

/**
 * Prometheus metrics of this process. Run counters follow the changes this process makes (a
 * server also runs a worker), so they are per process as Prometheus expects; the gauges read the
 * database at scrape time from small indexed sets (active runs only, never history).
 */
export function createMetrics(sources: MetricsSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'opsledger_' });

  const started = new Counter({
    name: 'opsledger_runs_started_total',
    help: 'Runs created (started) by this process, by operation type',
    labelNames: ['type'],
    registers: [registry],
  });
  const completed = new Counter({
    name: 'opsledger_runs_completed_total',
    help: 'Runs completed by this process, by operation type and outcome',
    labelNames: ['type', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'opsledger_run_duration_seconds',
    help: 'Duration of completed runs from start to completion',
    labelNames: ['type', 'outcome'],
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600],
    registers: [registry],
  });
  const http = new Histogram({
    name: 'opsledger_http_request_duration_seconds',
    help: 'HTTP request latency by route template, method and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'opsledger_runs_active',
    help: 'Runs queued or running, all tenants',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const rows = await sources.activeRunCounts();
      this.reset();
      this.set({ status: 'queued' }, 0);
      this.set({ status: 'running' }, 0);
      for (const r of rows) this.set({ status: r.status }, r.n);
    },
  });
  new Gauge({
    name: 'opsledger_queue_depth',
    help: 'Jobs waiting in the run queue (from the queue monitor)',
    registers: [registry],
    async collect() {
      this.set(await sources.queueDepth().catch(() => 0));
    },
  });

  const divergent = sources.divergentRunCount;
  if (divergent) {
    new Gauge({
      name: 'opsledger_mirror_divergent_runs',
      help: 'Mirrored runs the periodic mirror check found disagreeing with their domain record, all tenants',
      registers: [registry],
      async collect() {
        this.set(await divergent().catch(() => 0));
      },
    });
  }

  const replica = sources.readReplica;
  if (replica) {
    new Counter({
      name: 'opsledger_monitoring_reads_total',
      help: 'Monitoring reads by the side that served them (replica or primary) and, for the primary, why',
      labelNames: ['served_by', 'reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of replica.counts()) this.inc({ served_by: c.servedBy, reason: c.reason ?? '' }, c.n);
      },
    });
    new Gauge({
      name: 'opsledger_read_replica_lag_seconds',
      help: 'Upper bound on how far the read replica is behind the primary, by its last check (absent when unknown)',
      registers: [registry],
      collect() {
        this.reset();
        const lag = replica.lagSeconds();
        if (lag !== null) this.set(lag);
      },
    });
  }

  const onChange = (row: RunRow) => {
    if (row.status === 'queued' && row.attempts === 0 && !row.cancel_requested_at) {
      started.inc({ type: row.type });
    } else if (row.status === 'completed') {
      completed.inc({ type: row.type, outcome: row.outcome });
      if (row.started_at && row.completed_at) {
        const ms = new Date(row.completed_at).getTime() - new Date(row.started_at).getTime();
        duration.observe({ type: row.type, outcome: row.outcome }, Math.max(0, ms) / 1000);
      }
    }
  };
  sources.events.on('change', onChange);

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
        sources.events.off('change', onChange);
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
