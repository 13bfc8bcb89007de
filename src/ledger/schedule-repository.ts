import type { Insertable, Selectable } from 'kysely';
import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { SchedulesTable } from './tables.ts';

export type ScheduleRow = Selectable<SchedulesTable>;
export type NewSchedule = Insertable<SchedulesTable>;

/** The SQL of schedules. Tenant data is always filtered by tenant id, whatever RLS also does. */
export const scheduleRepository = {
  async insert(trx: Trx, schedule: NewSchedule): Promise<ScheduleRow> {
    return trx.insertInto('schedules').values(schedule).returningAll().executeTakeFirstOrThrow();
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
    return trx
      .selectFrom('schedules')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('name')
      .orderBy('id')
      .execute();
  },

  async find(trx: Trx, tenantId: string, id: string): Promise<ScheduleRow | null> {
    const row = await trx
      .selectFrom('schedules')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
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
      .set({ paused_at: null, next_fire_at: nextFireAt, updated_at: sql`now()` })
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
        ...(change.runId ? { last_run_id: change.runId } : {}),
        updated_at: sql`now()`,
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
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
