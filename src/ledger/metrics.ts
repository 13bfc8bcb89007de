import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ReadReplica } from '../db/read-replica.ts';
import type { RunRow } from './run.ts';
import type { RunEvents } from './run-events.ts';

/**
 * The ledger's Prometheus metrics, by Prometheus' naming rules: the standard process and Node.js
 * metrics as prom-client names them (no prefix, so stock dashboards work), ours under `opsledger_`;
 * counters end in `_total` and nothing else does; units in names (`_seconds`); every labelled series
 * of a known operation type and outcome exists at zero from the start (no gap before the first run);
 * a value read at scrape time that cannot be read is absent (or NaN), and `opsledger_collector_up`
 * says so, rather than a false 0.
 *
 * Any process that serves /metrics (the server, a worker with its own port) builds its registry
 * here, so all carry the same series; the server adds its HTTP histogram (src/http/metrics.ts).
 */

export type LedgerMetricsSources = {
  events: RunEvents;
  /** The registered operation types: their series start at zero. */
  types(): readonly string[];
  /** Queued and running runs across tenants, by status. */
  activeRunCounts(): Promise<{ status: string; n: number }[]>;
  /** Jobs waiting in the run queue. */
  queueDepth(): Promise<number>;
  /** Mirrored runs marked as disagreeing with their domain record, all tenants. */
  divergentRunCount?(): Promise<number>;
  /** The read replica, when DATABASE_READ_URL is set: which side served the monitoring reads. */
  readReplica?: ReadReplica | null;
};

/** Outcomes a completed run can have. */
export const TERMINAL_OUTCOMES = ['succeeded', 'partially_succeeded', 'failed', 'cancelled'] as const;

/**
 * prom-client's default gauges whose names end in `_total` though they are not counters
 * (Prometheus keeps `_total` for counters). `nodejs_active_resources{type}` carries the same counts.
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export function createLedgerMetrics(sources: LedgerMetricsSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);

  /**
   * The values read at scrape time, read once per scrape: Prometheus' registry collects every
   * metric at once, so the gauges and `opsledger_collector_up` share one reading.
   */
  type Reading = { runs: { status: string; n: number }[] | null; depth: number | null };
  let current: Promise<Reading> | null = null;
  const reading = () => {
    current ??= (async () => {
      const [runs, depth] = await Promise.allSettled([sources.activeRunCounts(), sources.queueDepth()]);
      return {
        runs: runs.status === 'fulfilled' ? runs.value : null,
        depth: depth.status === 'fulfilled' ? depth.value : null,
      };
    })().finally(() => {
      current = null;
    });
    return current;
  };

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
  const zeroed = new Set<string>();
  const zeroType = (type: string) => {
    if (zeroed.has(type)) return;
    zeroed.add(type);
    started.inc({ type }, 0);
    for (const outcome of TERMINAL_OUTCOMES) {
      completed.inc({ type, outcome }, 0);
      duration.zero({ type, outcome });
    }
  };
  for (const type of sources.types()) zeroType(type);

  new Gauge({
    name: 'opsledger_runs_active',
    help: 'Runs queued or running, all tenants (absent when they cannot be read)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const { runs } = await reading();
      this.reset();
      if (!runs) return;
      this.set({ status: 'queued' }, 0);
      this.set({ status: 'running' }, 0);
      for (const r of runs) this.set({ status: r.status }, r.n);
    },
  });
  new Gauge({
    name: 'opsledger_queue_depth',
    help: 'Jobs waiting in the run queue (from the queue monitor; NaN when it cannot be read)',
    registers: [registry],
    async collect() {
      const { depth } = await reading();
      // A gauge without labels always has its one series: NaN, never a false 0, when unread.
      this.set(depth ?? Number.NaN);
    },
  });
  new Gauge({
    name: 'opsledger_collector_up',
    help: 'Whether a value read at scrape time could be read (1) or not (0: its series is absent, or NaN)',
    labelNames: ['collector'],
    registers: [registry],
    async collect() {
      const { runs, depth } = await reading();
      this.set({ collector: 'runs_active' }, runs ? 1 : 0);
      this.set({ collector: 'queue_depth' }, depth !== null ? 1 : 0);
    },
  });

  const divergent = sources.divergentRunCount;
  if (divergent) {
    new Gauge({
      name: 'opsledger_mirror_divergent_runs',
      help: 'Mirrored runs the periodic mirror check found disagreeing with their domain record, all tenants (NaN when it cannot be read)',
      registers: [registry],
      async collect() {
        this.set(await divergent().catch(() => Number.NaN));
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
      zeroType(row.type);
      started.inc({ type: row.type });
    } else if (row.status === 'completed') {
      zeroType(row.type);
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
    /** Stops following run changes (when the process stops serving metrics). */
    close() {
      sources.events.off('change', onChange);
    },
  };
}

export type LedgerMetrics = ReturnType<typeof createLedgerMetrics>;
