import { sql } from 'kysely';

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
