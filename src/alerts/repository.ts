import { type Insertable, sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { NotificationDeliveriesTable, NotificationTargetsTable } from './tables.ts';

/** All SQL of alerts. Tenant id is a required argument and a WHERE of every tenant statement. */
export const alertRepository = {
  listTargets(trx: Trx, tenantId: string) {
    return trx
      .selectFrom('notification_targets')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at')
      .limit(100)
      .execute();
  },

  getTarget(trx: Trx, tenantId: string, id: string) {
    return trx
      .selectFrom('notification_targets')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  },

  countTargets(trx: Trx, tenantId: string) {
    return trx
      .selectFrom('notification_targets')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n));
  },

  insertTarget(trx: Trx, row: Insertable<NotificationTargetsTable>) {
    return trx.insertInto('notification_targets').values(row).returningAll().executeTakeFirstOrThrow();
  },

  updateTarget(
    trx: Trx,
    tenantId: string,
    id: string,
    patch: Partial<
      Pick<NotificationTargetsTable, 'name' | 'url_encrypted' | 'url_display' | 'longer_than_minutes'>
    > & {
      types?: string[];
      outcomes?: ('failed' | 'partially_succeeded')[];
      enabled?: boolean;
    },
  ) {
    return trx
      .updateTable('notification_targets')
      .set({ ...patch, updated_at: sql`now()` })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  },

  deleteTarget(trx: Trx, tenantId: string, id: string) {
    return trx
      .deleteFrom('notification_targets')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .returning('id')
      .executeTakeFirst();
  },

  /** Inserts the delivery unless one with its key exists: the one place "at most once" is decided. */
  insertDeliveryOnce(trx: Trx, row: Insertable<NotificationDeliveriesTable>) {
    return trx
      .insertInto('notification_deliveries')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant_id', 'idempotency_key']).doNothing())
      .returning(['id'])
      .executeTakeFirst();
  },

  getDelivery(trx: Trx, tenantId: string, id: string) {
    return trx
      .selectFrom('notification_deliveries')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
  },

  recordAttempt(
    trx: Trx,
    tenantId: string,
    deliveryId: string,
    attempt: {
      id: string;
      attempt: number;
      statusCode: number | null;
      excerpt: string | null;
      error: string | null;
      durationMs: number;
      final: 'delivered' | 'failed' | null;
    },
  ) {
    return Promise.all([
      trx
        .insertInto('notification_delivery_attempts')
        .values({
          tenant_id: tenantId,
          id: attempt.id,
          delivery_id: deliveryId,
          attempt: attempt.attempt,
          status_code: attempt.statusCode,
          response_excerpt: attempt.excerpt,
          error: attempt.error,
          duration_ms: attempt.durationMs,
        })
        .execute(),
      trx
        .updateTable('notification_deliveries')
        .set({
          attempts: attempt.attempt,
          last_status_code: attempt.statusCode,
          last_error: attempt.error,
          ...(attempt.final ? { status: attempt.final, completed_at: sql`now()` } : {}),
        })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', deliveryId)
        .execute(),
    ]);
  },

  listDeliveries(trx: Trx, tenantId: string, targetId: string, limit: number) {
    return trx
      .selectFrom('notification_deliveries')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('target_id', '=', targetId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  },

  /** Each of the tenant's targets' latest delivery (one index probe per target). */
  lastDeliveries(trx: Trx, tenantId: string, targetIds: string[]) {
    if (targetIds.length === 0) return Promise.resolve([]);
    return trx
      .selectFrom('notification_targets as t')
      .innerJoinLateral(
        (eb) =>
          eb
            .selectFrom('notification_deliveries as d')
            .select([
              'd.target_id',
              'd.event',
              'd.status',
              'd.last_status_code',
              'd.created_at',
              'd.completed_at',
            ])
            .where('d.tenant_id', '=', tenantId)
            .whereRef('d.target_id', '=', 't.id')
            .orderBy('d.created_at', 'desc')
            .orderBy('d.id', 'desc')
            .limit(1)
            .as('last'),
        (join) => join.onTrue(),
      )
      .selectAll('last')
      .where('t.tenant_id', '=', tenantId)
      .where('t.id', 'in', targetIds)
      .execute();
  },

  attemptsOf(trx: Trx, tenantId: string, deliveryIds: string[]) {
    if (deliveryIds.length === 0) return Promise.resolve([]);
    return trx
      .selectFrom('notification_delivery_attempts')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('delivery_id', 'in', deliveryIds)
      .orderBy('at')
      .orderBy('attempt')
      .execute();
  },

  /** Enabled targets with a duration rule, across tenants (the sweep's system-scope scan). */
  longRunningRules(trx: Trx) {
    return trx
      .selectFrom('notification_targets')
      .select(['tenant_id', 'id', 'types', 'longer_than_minutes'])
      .where('enabled', '=', true)
      .where('longer_than_minutes', 'is not', null)
      .limit(1000)
      .execute();
  },

  /** Every enabled target with an outcome rule, and since when it has been as it is (catch-up). */
  catchUpTargets(trx: Trx) {
    return trx
      .selectFrom('notification_targets')
      .select([
        'tenant_id',
        'id',
        'types',
        'outcomes',
        sql<Date>`greatest(created_at, updated_at)`.as('since'),
      ])
      .where('enabled', '=', true)
      .where(sql<number>`cardinality(outcomes)`, '>', 0)
      .limit(1000)
      .execute();
  },

  /**
   * Runs of the tenant that completed with one of the target's outcomes since `since` (at most an
   * hour back) and have no delivery for it: what the live path missed.
   */
  missedRuns(
    trx: Trx,
    tenantId: string,
    target: { id: string; types: string[]; outcomes: string[]; since: Date },
  ) {
    let q = trx
      .selectFrom('operation_runs as r')
      .selectAll('r')
      .where('r.tenant_id', '=', tenantId)
      .where('r.status', '=', 'completed')
      .where('r.outcome', 'in', target.outcomes as ('failed' | 'partially_succeeded')[])
      // Bounded by the outcome index (tenant, outcome, created_at): a run longer than a day that
      // the live path missed is not caught up.
      .where('r.created_at', '>', sql<Date>`now() - interval '1 day'`)
      .where('r.completed_at', '>', sql<Date>`greatest(${target.since}, now() - interval '1 hour')`)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('notification_deliveries as d')
              .select(sql`1`.as('one'))
              .where('d.tenant_id', '=', tenantId)
              .where(
                sql<boolean>`d.idempotency_key = ${`${target.id}:`} || r.id::text || ':run.' || r.outcome`,
              ),
          ),
        ),
      );
    if (target.types.length > 0) q = q.where('r.type', 'in', target.types);
    return q.orderBy('r.completed_at').limit(100).execute();
  },

  /** The tenant's runs still active past a number of minutes (for one target's duration rule). */
  longRunning(trx: Trx, tenantId: string, minutes: number, types: string[]) {
    let q = trx
      .selectFrom('operation_runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('status', '<>', 'completed')
      .where('created_at', '<', sql<Date>`now() - make_interval(mins => ${minutes})`);
    if (types.length > 0) q = q.where('type', 'in', types);
    return q.limit(100).execute();
  },
};
