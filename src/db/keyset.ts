import { type SelectQueryBuilder, sql } from 'kysely';

/**
 * Keyset paging over (created_at, id), newest first: the lists of runs and of restore records.
 * The position is kept to the microsecond, so rows created in the same millisecond are never
 * skipped or repeated (a JavaScript Date would round them).
 */
export type Keyset = { createdAt: string; id: string };

export const createdAtKey = sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Rows strictly after the position in newest-first order. */
export const afterKeyset = (position: Keyset) =>
  sql<boolean>`(created_at, id) < (${position.createdAt}::timestamptz, ${position.id}::uuid)`;

/**
 * One page of a newest-first list: the rows after the position (if any), ordered by (created_at,
 * id) descending, at most `limit`. Runs and restore records page through this one expression, so
 * their cursors mean the same thing.
 */
export function newestFirstPage<QB extends SelectQueryBuilder<any, any, any>>(
  query: QB,
  after: Keyset | null,
  limit: number,
): QB {
  const from = after ? query.where(afterKeyset(after)) : query;
  return from.orderBy(sql`created_at`, 'desc').orderBy(sql`id`, 'desc').limit(limit) as QB;
}
