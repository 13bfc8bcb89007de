import type { PgBoss } from 'pg-boss';
import type { Database } from '../db/database.ts';
import type { OperationCatalog } from '../ledger/catalog.ts';
import type { RunChangeFeed } from '../ledger/change-feed.ts';
import type { RunEventLog } from '../ledger/event-log-service.ts';
import type { RunRow } from '../ledger/run.ts';
import type { OperationRunService } from '../ledger/service.ts';
import type { Logger } from '../shared/logger.ts';
import {
  MIRROR_CHECK_QUEUE,
  PRUNER_QUEUE,
  REAPER_QUEUE,
  RUN_QUEUE,
  type RunJobData,
  type RunQueue,
  SCHEDULE_QUEUE,
} from './boss-queue.ts';
import { pruneRuns, reapStaleRuns } from './maintenance.ts';
import {
  type ActiveRun,
  RunCancelledError,
  trackOperationRun,
  WorkerShutdownError,
} from './track-operation-run.ts';

export type WorkerDeps = {
  boss: PgBoss;
  database: Database;
  service: OperationRunService;
  catalog: OperationCatalog;
  queue: RunQueue;
  logger: Logger;
  tenantConcurrency: number;
  staleRunSeconds: number;
  retentionDays: number;
  /** Run changes, for cancellations of the runs in flight here. */
  feed: RunChangeFeed;
  /** Runs in flight at once in this worker, all tenants together. */
  concurrency?: number;
  onRunChanged?: (run: RunRow) => void;
  /** Fires due schedules (the ledger's ScheduleService); without it this worker fires none. */
  schedules?: { fireDue(): Promise<unknown> } | null;
  /** Seconds between passes of the mirror check of the types that have one (default 60). */
  mirrorCheckSeconds?: number;
  /** The per-run event log the tracker and the reaper write to. */
  events?: RunEventLog | null;
};

/** pg-boss's least heartbeat: a reaper job whose process died is failed this long after. */
const REAPER_HEARTBEAT_SECONDS = 10;

/** How often the reaper is offered to the queue; the queue runs one at a time across workers. */
export function reaperPeriodSeconds(staleRunSeconds: number): number {
  return Math.max(1, Math.min(30, Math.floor(staleRunSeconds / 4)));
}

/**
 * A worker: runs operation jobs through trackOperationRun, with a per-tenant cap so one tenant's
 * flood cannot starve the others, plus the reaper and pruner jobs.
 */
export class RunWorker {
  #deps: WorkerDeps;
  #active = new Map<string, ActiveRun>();
  #timers: NodeJS.Timeout[] = [];
  #unlisten: (() => void) | null = null;
  #stopped = false;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
  }

  get activeCount(): number {
    return this.#active.size;
  }

  async start(): Promise<void> {
    const d = this.#deps;
    const concurrency = Math.max(d.concurrency ?? 8, d.tenantConcurrency);
    const heartbeatMs = Math.max(200, Math.min(5000, (d.staleRunSeconds * 1000) / 4));
    // Cancellation of a running run reaches its worker through the change feed at once; the
    // heartbeat is the fallback when a notice is missed.
    this.#unlisten = await d.feed.subscribe((change) => {
      if (change.kind !== 'run' || !change.run.cancel_requested_at) return;
      const active = this.#active.get(change.run.id);
      if (active && !active.controller.signal.aborted) {
        active.controller.abort(new RunCancelledError('the run was cancelled'));
      }
    });
    await d.boss.work<RunJobData>(
      RUN_QUEUE,
      {
        batchSize: 1,
        localConcurrency: concurrency,
        localGroupConcurrency: d.tenantConcurrency,
        pollingIntervalSeconds: 2,
        // A retry's job waits out its delay unannounced; this poll is what picks it up when due.
        notifyPollingIntervalSeconds: 2,
      },
      async ([job]) => {
        if (!job) return;
        try {
          await trackOperationRun(
            {
              service: d.service,
              catalog: d.catalog,
              logger: d.logger,
              heartbeatMs,
              active: this.#active,
              events: d.events,
            },
            job,
          );
        } finally {
          this.#fetchAgainAtOnce();
        }
      },
    );
    const period = reaperPeriodSeconds(d.staleRunSeconds);
    await d.boss.work(REAPER_QUEUE, { pollingIntervalSeconds: Math.max(0.5, period / 2) }, async () => {
      await reapStaleRuns({
        database: d.database,
        catalog: d.catalog,
        queue: d.queue,
        logger: d.logger,
        staleRunSeconds: d.staleRunSeconds,
        onRunChanged: d.onRunChanged,
        events: d.events,
      });
    });
    await d.boss.work(PRUNER_QUEUE, async () => {
      await pruneRuns({ database: d.database, retentionDays: d.retentionDays, logger: d.logger });
    });
    await d.boss.schedule(PRUNER_QUEUE, '17 * * * *', {}, { tz: 'UTC' } as any);
    const schedules = d.schedules;
    if (schedules) {
      // Delayed wake-up jobs are found by polling, so the poll sets how late a firing may be.
      await d.boss.work(SCHEDULE_QUEUE, { pollingIntervalSeconds: 1, batchSize: 1 }, async () => {
        await schedules.fireDue();
      });
      // The backstop: whatever became of the wake-up jobs, every minute one process looks.
      await d.boss.schedule(SCHEDULE_QUEUE, '* * * * *', {}, { tz: 'UTC' } as any);
    }
    await this.#startMirrorCheck();
    // Every worker offers the reaper job; the singleton queue keeps at most one waiting.
    const offer = () => {
      if (this.#stopped) return;
      // The queue lets one reaper job be active at a time; the heartbeat frees that slot within
      // seconds when the process running it dies, instead of at the job's expiry (15 minutes),
      // which would stop the reaping of that process's own runs for as long.
      d.boss
        .send(REAPER_QUEUE, {}, { singletonKey: 'reaper', heartbeatSeconds: REAPER_HEARTBEAT_SECONDS })
        .catch((err) => {
          if (!this.#stopped) d.logger.warn({ err }, 'could not schedule the reaper');
        });
    };
    offer();
    const timer = setInterval(offer, period * 1000);
    timer.unref();
    this.#timers.push(timer);
  }

  /**
   * The mirror check of every type that has one (a domain record mirrored into the ledger): every
   * worker offers the job each period, the stately queue runs one at a time across the fleet, so a
   * divergence between a record and its run is found and marked without anyone running `verify`.
   */
  async #startMirrorCheck(): Promise<void> {
    const d = this.#deps;
    const checks = d.catalog.list().filter((def) => def.checkMirrors);
    if (checks.length === 0) return;
    await d.boss.work(MIRROR_CHECK_QUEUE, { pollingIntervalSeconds: 1 }, async () => {
      for (const def of checks) {
        const report = await def.checkMirrors!();
        if (report.divergent > 0 || report.completedOrphans > 0 || report.cleared > 0)
          d.logger.warn({ type: def.name, ...report }, 'mirror check found records and runs that disagree');
      }
    });
    const offer = () => {
      if (this.#stopped) return;
      d.boss.send(MIRROR_CHECK_QUEUE, {}, { singletonKey: 'mirror-check' }).catch((err) => {
        if (!this.#stopped) d.logger.warn({ err }, 'could not schedule the mirror check');
      });
    };
    offer();
    const timer = setInterval(offer, (d.mirrorCheckSeconds ?? 60) * 1000);
    timer.unref();
    this.#timers.push(timer);
  }

  /**
   * Drains a backlog back to back: a poller that found a job fetches again as soon as it is done
   * instead of waiting out its poll interval; one that finds none goes back to polling. (pg-boss
   * bursts on a full batch only when batches are larger than one, or on its cached count of ready
   * jobs, which is seconds old: a backlog left when the starts stopped drained at one job per
   * poller per interval, about four runs a second, until that count caught up.) The pollers of the
   * run queue holding a job are told; the one finishing this job is among them.
   */
  #fetchAgainAtOnce(): void {
    if (this.#stopped) return;
    const boss = this.#deps.boss;
    for (const w of boss.getWipData()) {
      if (w.name === RUN_QUEUE && w.count > 0) boss.notifyWorker(w.id);
    }
  }

  /**
   * Stops taking work at once. Runs in flight get `graceMs` to finish; those still going then are
   * told to stop and go back to the queue for a retry (on their last attempt they complete failed).
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    const release = () => {
      for (const run of this.#active.values()) {
        run.controller.abort(new WorkerShutdownError('the worker is stopping'));
      }
    };
    const graceMs = options.graceMs ?? 0;
    const timer = graceMs > 0 ? setTimeout(release, graceMs) : null;
    if (!timer) release();
    const d = this.#deps;
    // offWork stops fetching at once and resolves when the handlers in flight have returned.
    await Promise.allSettled([
      d.boss.offWork(RUN_QUEUE, { wait: true }),
      d.boss.offWork(REAPER_QUEUE, { wait: true }),
      d.boss.offWork(PRUNER_QUEUE, { wait: true }),
      d.boss.offWork(MIRROR_CHECK_QUEUE, { wait: true }),
      d.schedules ? d.boss.offWork(SCHEDULE_QUEUE, { wait: true }) : Promise.resolve(),
    ]);
    if (timer) clearTimeout(timer);
    this.#unlisten?.();
  }
}
