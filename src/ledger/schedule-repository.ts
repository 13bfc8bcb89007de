import type { Insertable, Selectable } from 'kysely';
import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { ScheduleFiringError, SchedulesTable } from './tables.ts';

/** A schedule row with the display name of its creator while the creator is a member (else null). */
export type ScheduleRow = Selectable<SchedulesTable> & { created_by_name?: string | null };
export type NewSchedule = Insertable<SchedulesTable>;

/** The SQL of schedules. Tenant data is always filtered by tenant id, whatever RLS also does. */
export const scheduleRepository = {
  async insert(trx: Trx, schedule: NewSchedule): Promise<ScheduleRow> {
    return trx.insertInto('schedules').values(schedule).returningAll().executeTakeFirstOrThrow();
  },

  /**
   * Serialises the schedule writes of one tenant that must see each other (the cap): held to the
   * end of the transaction, so a count taken after it is the count the insert lands on.
   */
  async lockTenant(trx: Trx, tenantId: string): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`schedules|${tenantId}`}, 0))`.execute(trx);
  },

  async count(trx: Trx, tenantId: string): Promise<number> {
    const row = await trx
      .selectFrom('schedules')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  list(trx: Trx, tenantId: string): Promise<ScheduleRow[]> {
    return withCreator(trx).where('s.tenant_id', '=', tenantId).orderBy('s.name').orderBy('s.id').execute();
  },

  async find(trx: Trx, tenantId: string, id: string): Promise<ScheduleRow | null> {
    const row = await withCreator(trx)
      .where('s.tenant_id', '=', tenantId)
      .where('s.id', '=', id)
      .executeTakeFirst();
    return row ?? null;
  },

  /** Pauses an active schedule; null when it is not there or already paused. */
  async pause(trx: Trx, tenantId: string, id: string): Promise<ScheduleRow | null> {
    const row = await trx
      .updateTable('schedules')
      .set({ paused_at: sql`now()`, next_fire_at: null, updated_at: sql`now()` })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('paused_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    return row ?? null;
  },

  async resume(trx: Trx, tenantId: string, id: string, nextFireAt: Date): Promise<ScheduleRow | null> {
    const row = await trx
      .updateTable('schedules')
      .set({ paused_at: null, paused_reason: null, next_fire_at: nextFireAt, updated_at: sql`now()` })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('paused_at', 'is not', null)
      .returningAll()
      .executeTakeFirst();
    return row ?? null;
  },

  async delete(trx: Trx, tenantId: string, id: string): Promise<boolean> {
    const result = await trx
      .deleteFrom('schedules')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  },

  /**
   * The most overdue schedule of any tenant, locked for this transaction; a schedule another
   * process is firing is passed over, so two processes never take the same firing.
   */
  async lockNextDue(trx: Trx): Promise<(ScheduleRow & { db_now: Date }) | null> {
    const { rows } = await sql<ScheduleRow & { db_now: Date }>`
      select s.*, now() as db_now from schedules s
      where s.next_fire_at <= now()
      order by s.next_fire_at
      limit 1
      for update skip locked`.execute(trx);
    const row = rows[0];
    return row ? { ...row, db_now: new Date(row.db_now) } : null;
  },

  async recordFiring(
    trx: Trx,
    tenantId: string,
    id: string,
    change: { nextFireAt: Date; firedAt: Date | null; runId: string | null },
  ): Promise<void> {
    await trx
      .updateTable('schedules')
      .set({
        next_fire_at: change.nextFireAt,
        ...(change.firedAt ? { last_fired_at: change.firedAt } : {}),
        ...(change.runId ? { last_run_id: change.runId, last_error: null } : {}),
        updated_at: sql`now()`,
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  },

  /**
   * Records a firing that could not start its run and moves the schedule to its next firing, unless
   * another process already took that firing (the guard on the firing it was due at).
   */
  async recordFailedFiring(
    trx: Trx,
    tenantId: string,
    id: string,
    change: { dueAt: Date; nextFireAt: Date; firedAt: Date; error: ScheduleFiringError },
  ): Promise<boolean> {
    const result = await trx
      .updateTable('schedules')
      .set({
        next_fire_at: change.nextFireAt,
        last_fired_at: change.firedAt,
        last_error: JSON.stringify(change.error),
        updated_at: sql`now()`,
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      // Still at the firing it failed (the stored time may carry microseconds the Date lost); a
      // process that took the firing since has moved it past.
      .where(sql<boolean>`next_fire_at < ${change.dueAt}::timestamptz + interval '1 millisecond'`)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  },

  /** The earliest firing of any active schedule (cross-tenant; only its time leaves here). */
  async earliestFiring(trx: Trx): Promise<Date | null> {
    const row = await trx
      .selectFrom('schedules')
      .select((eb) => eb.fn.min('next_fire_at').as('at'))
      .where('next_fire_at', 'is not', null)
      .executeTakeFirst();
    return row?.at ? new Date(row.at as Date) : null;
  },
};

/** Schedules with their creator's name; users' row security shows only the tenant's members. */
function withCreator(trx: Trx) {
  return trx
    .selectFrom('schedules as s')
    .leftJoin('users as u', 'u.id', 's.created_by')
    .selectAll('s')
    .select('u.display_name as created_by_name');
}
