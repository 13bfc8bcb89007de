import { uuidv7 } from 'uuidv7';
import type { Database, Trx } from '../db/database.ts';
import { ConflictError, NotFoundError, ValidationError, withDbErrors } from '../shared/errors.ts';
import { toFailureEntry } from '../shared/failures.ts';
import { assertUuid } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { redactDeep } from '../shared/redact.ts';
import { iso } from '../shared/time.ts';
import type { OperationCatalog } from './catalog.ts';
import { checkCron, nextFiring } from './cron.ts';
import type { ScheduleWakeups } from './queue-port.ts';
import type { RunRow } from './run.ts';
import { scheduleRepository as repo, type ScheduleRow } from './schedule-repository.ts';
import type { OperationRunService } from './service.ts';
import type { MissedFiringPolicy } from './tables.ts';

export type { ScheduleRow };

/** A schedule as the API shows it. */
export type Schedule = {
  id: string;
  tenantId: string;
  name: string;
  type: string;
  typeLabel: string;
  inputs: Record<string, unknown>;
  cron: string;
  timezone: string;
  missed: MissedFiringPolicy;
  status: 'active' | 'paused';
  /** Why the product paused it (its creator left the tenant); null when paused by hand or active. */
  pausedReason: string | null;
  nextFireAt: string | null;
  lastFiredAt: string | null;
  lastRunId: string | null;
  /** The last firing's failure to start its run (redacted); null once a firing starts one. */
  lastError: { code: string; message: string; at: string } | null;
  /** Who created it; the name is null once they are no longer a member of the tenant. */
  createdBy: { userId: string; name: string | null } | null;
  createdAt: string;
  updatedAt: string;
};

export type NewScheduleRequest = {
  name: string;
  type: string;
  inputs?: Record<string, unknown>;
  cron: string;
  timezone?: string;
  missed?: MissedFiringPolicy;
};

export type FiringReport = { fired: number; deduplicated: number; skipped: number; failed: number };

/** More schedules than this in one tenant is a mistake, not a plan; the list is never paged. */
export const MAX_SCHEDULES_PER_TENANT = 100;

/**
 * A firing later than this is one the schedule missed while nothing was running (the evaluator
 * wakes at each firing and a one-minute pg-boss cron backs it up, so a firing it took on time is
 * at most about a minute late). Missed firings follow the schedule's `missed` policy.
 */
export const MISSED_AFTER_MS = 120_000;

export type ScheduleServiceDeps = {
  database: Database;
  catalog: OperationCatalog;
  runs: OperationRunService;
  wakeups: ScheduleWakeups;
  logger: Logger;
};

/**
 * Schedules per tenant, and the firing of due ones. A firing goes through the ledger's ordinary
 * start, in the same transaction that moves the schedule to its next firing: a firing is taken
 * once across every process, its run and the schedule's progress commit together, and a firing
 * whose previous run is still active gets that run back (deduplicated), not a second one.
 */
export class ScheduleService {
  #deps: ScheduleServiceDeps;

  constructor(deps: ScheduleServiceDeps) {
    this.#deps = deps;
  }

  present(row: ScheduleRow): Schedule {
    return {
      id: row.id,
      tenantId: row.tenant_id,
      name: row.name,
      type: row.type,
      typeLabel: this.#deps.catalog.label(row.type),
      // As a run's context: what the schedule passes on is kept whole, what it shows is redacted.
      inputs: redactDeep(row.inputs ?? {}) as Record<string, unknown>,
      cron: row.cron,
      timezone: row.timezone,
      missed: row.missed,
      status: row.paused_at ? 'paused' : 'active',
      pausedReason: row.paused_reason,
      nextFireAt: iso(row.next_fire_at),
      lastFiredAt: iso(row.last_fired_at),
      lastRunId: row.last_run_id,
      lastError: row.last_error
        ? { code: row.last_error.code, message: row.last_error.message, at: row.last_error.at }
        : null,
      createdBy: row.created_by ? { userId: row.created_by, name: row.created_by_name ?? null } : null,
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
    };
  }

  async list(tenantId: string): Promise<Schedule[]> {
    const t = assertUuid(tenantId, 'tenant');
    const rows = await this.#tx(t, (trx) => repo.list(trx, t));
    return rows.map((r) => this.present(r));
  }

  async get(tenantId: string, scheduleId: string): Promise<Schedule> {
    const t = assertUuid(tenantId, 'tenant');
    const id = assertUuid(scheduleId, 'schedule');
    const row = await this.#tx(t, (trx) => repo.find(trx, t, id));
    if (!row) throw new NotFoundError('schedule not found');
    return this.present(row);
  }

  async create(tenantId: string, request: NewScheduleRequest, createdBy: string | null): Promise<Schedule> {
    const t = assertUuid(tenantId, 'tenant');
    const name = request.name.trim();
    if (name.length < 1 || name.length > 100) {
      throw new ValidationError('a schedule name has 1 to 100 characters', [
        { path: '/name', message: 'must have 1 to 100 characters' },
      ]);
    }
    const def = this.#deps.catalog.get(request.type);
    // Refused early (before the transaction) when the inputs do not even match the schema.
    this.#deps.catalog.parseInputs(def.name, request.inputs ?? {});
    const timezone = request.timezone?.trim() || 'UTC';
    const cron = request.cron.trim();
    checkCron(cron, timezone);
    const next = nextFiring(cron, timezone, new Date());
    const row = await this.#tx(t, async (trx) => {
      // The same door as a direct start, the type's own validation included: a schedule that could
      // never start its run is refused now, with the error a start would give.
      const inputs = await this.#deps.runs.checkStart(trx, {
        tenantId: t,
        type: def.name,
        inputs: request.inputs ?? {},
      });
      // Creates of one tenant take turns from here: the count is the one the insert lands on.
      await repo.lockTenant(trx, t);
      if ((await repo.count(trx, t)) >= MAX_SCHEDULES_PER_TENANT) {
        throw new ConflictError(`a tenant has at most ${MAX_SCHEDULES_PER_TENANT} schedules`);
      }
      const created = await repo
        .insert(trx, {
          id: uuidv7(),
          tenant_id: t,
          name,
          type: def.name,
          inputs: JSON.stringify(inputs),
          cron,
          timezone,
          missed: request.missed ?? 'once',
          next_fire_at: next,
          created_by: createdBy,
        })
        .catch((err: { code?: string }) => {
          if (err?.code === '23505') throw new ConflictError(`a schedule named "${name}" already exists`);
          throw err;
        });
      return (await repo.find(trx, t, created.id)) ?? created;
    });
    await this.#wake(next);
    return this.present(row);
  }

  /** Stops firing; pausing a paused schedule changes nothing. */
  async pause(tenantId: string, scheduleId: string): Promise<Schedule> {
    const { t, id } = this.#ids(tenantId, scheduleId);
    const row = await this.#tx(t, async (trx) => {
      await repo.pause(trx, t, id);
      return repo.find(trx, t, id);
    });
    if (!row) throw new NotFoundError('schedule not found');
    return this.present(row);
  }

  /**
   * Fires again from the next firing after now: what it missed while paused is not caught up.
   * Re-enabling goes through the door of a start again (what it names may be gone since), and is
   * the only way a schedule the product paused (its creator left) fires again.
   */
  async resume(tenantId: string, scheduleId: string): Promise<Schedule> {
    const { t, id } = this.#ids(tenantId, scheduleId);
    const row = await this.#tx(t, async (trx) => {
      const current = await repo.find(trx, t, id);
      if (!current) return null;
      if (!current.paused_at) return current;
      await this.#deps.runs.checkStart(trx, { tenantId: t, type: current.type, inputs: current.inputs });
      const next = nextFiring(current.cron, current.timezone, new Date());
      await repo.resume(trx, t, id, next);
      return repo.find(trx, t, id);
    });
    if (!row) throw new NotFoundError('schedule not found');
    if (row.next_fire_at) await this.#wake(new Date(row.next_fire_at));
    return this.present(row);
  }

  async delete(tenantId: string, scheduleId: string): Promise<void> {
    const { t, id } = this.#ids(tenantId, scheduleId);
    if (!(await this.#tx(t, (trx) => repo.delete(trx, t, id)))) throw new NotFoundError('schedule not found');
  }

  /**
   * Fires every due schedule (up to `max`), one transaction each, then asks to be woken at the
   * next firing of any schedule. Safe in any number of processes at once.
   */
  async fireDue(options: { max?: number } = {}): Promise<FiringReport> {
    const report: FiringReport = { fired: 0, deduplicated: 0, skipped: 0, failed: 0 };
    for (let i = 0; i < (options.max ?? 500); i++) {
      const outcome = await this.#fireOne();
      if (!outcome) break;
      report[outcome]++;
    }
    const next = await this.#deps.database.systemTx((trx) => repo.earliestFiring(trx));
    if (next) await this.#deps.wakeups.wakeAt(null, next);
    return report;
  }

  /**
   * Takes the most overdue firing of any tenant. A firing whose start fails for any reason (what it
   * names is gone, its inputs no longer fit, the start itself failed) rolls back alone; the failure
   * is then recorded on that schedule, which moves on to its next firing, and the evaluator goes on
   * with the next schedule. One bad schedule never holds back the others.
   */
  async #fireOne(): Promise<keyof FiringReport | null> {
    const { runs, logger } = this.#deps;
    let started: RunRow | null = null;
    let taken: { due: ScheduleRow; dueAt: Date; nextFireAt: Date; now: Date } | null = null;
    let outcome: keyof FiringReport | null;
    try {
      outcome = await this.#deps.database.systemTx(async (trx) => {
        const due = await repo.lockNextDue(trx);
        if (!due) return null;
        const dueAt = new Date(due.next_fire_at!);
        const now = due.db_now;
        // Firings that passed while this one waited are folded into it, never fired one by one.
        const nextFireAt = nextFiring(due.cron, due.timezone, now > dueAt ? now : dueAt);
        taken = { due, dueAt, nextFireAt, now };
        const missed = now.getTime() - dueAt.getTime() > MISSED_AFTER_MS;
        if (missed && due.missed === 'skip') {
          await repo.recordFiring(trx, due.tenant_id, due.id, { nextFireAt, firedAt: null, runId: null });
          logger.info({ scheduleId: due.id, missedSince: dueAt }, 'schedule skipped its missed firings');
          return 'skipped' as const;
        }
        const result = await runs.startInTransaction(trx, {
          tenantId: due.tenant_id,
          type: due.type,
          inputs: due.inputs,
          initiator: { kind: 'schedule', name: due.name },
          links: { schedule: due.id, scheduledFor: dueAt.toISOString() },
        });
        await repo.recordFiring(trx, due.tenant_id, due.id, {
          nextFireAt,
          firedAt: now,
          runId: result.row.id,
        });
        if (result.created) started = result.row;
        logger.info(
          {
            scheduleId: due.id,
            tenantId: due.tenant_id,
            scheduledFor: dueAt.toISOString(),
            runId: result.row.id,
            created: result.created,
          },
          'schedule fired',
        );
        return result.created ? ('fired' as const) : ('deduplicated' as const);
      });
    } catch (err) {
      // Nothing was taken: the database itself failed, and the pass stops here.
      if (!taken) throw err;
      await this.#recordFailure(taken, err);
      return 'failed';
    }
    if (started) runs.announce(started);
    return outcome;
  }

  async #recordFailure(
    taken: { due: ScheduleRow; dueAt: Date; nextFireAt: Date; now: Date },
    err: unknown,
  ): Promise<void> {
    const { due, dueAt, nextFireAt, now } = taken;
    const entry = toFailureEntry(err, failureCode(err));
    const recorded = await this.#deps.database.systemTx((trx) =>
      repo.recordFailedFiring(trx, due.tenant_id, due.id, {
        dueAt,
        nextFireAt,
        firedAt: now,
        error: { ...entry, at: now.toISOString() },
      }),
    );
    // The error is redacted (toFailureEntry); the tenant is named only by the schedule's id.
    this.#deps.logger.warn(
      { scheduleId: due.id, scheduledFor: dueAt.toISOString(), error: entry, recorded },
      'a schedule could not start its run',
    );
  }

  /**
   * Asks to be woken at a firing, after the schedule's transaction has committed: the application
   * role may write only run jobs of its own tenant, so the wake-up goes through the queue's own
   * connection. Lost with a crash in between, it is made up by the minute cron.
   */
  async #wake(at: Date): Promise<void> {
    await this.#deps.wakeups
      .wakeAt(null, at)
      .catch((err) => this.#deps.logger.warn({ err }, 'could not ask to be woken for a schedule'));
  }

  #ids(tenantId: string, scheduleId: string) {
    return { t: assertUuid(tenantId, 'tenant'), id: assertUuid(scheduleId, 'schedule') };
  }

  #tx<T>(tenantId: string, fn: (trx: Trx) => Promise<T>): Promise<T> {
    return withDbErrors(() => this.#deps.database.tenantTx(tenantId, fn));
  }
}

/** A short code for why a firing could not start, from the ledger's typed errors. */
function failureCode(err: unknown): string {
  if (err instanceof NotFoundError) return 'not_found';
  if (err instanceof ValidationError) return 'invalid_inputs';
  if (err instanceof ConflictError) return 'conflict';
  return 'start_failed';
}
