import pg from 'pg';

/** PostgreSQL's text of a UTC timestamp: `2026-11-28 09:15:02.123456+00` (the fraction optional). */
const UTC_TEXT = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00$/;
const parseTimestamptz = pg.types.getTypeParser(1184, 'text') as (text: string) => Date;

/**
 * A database timestamp as ISO 8601 UTC with milliseconds (as Date#toISOString writes it), or null:
 * a Date, or the server's text of a timestamptz (see TenantReadOptions.timestampsAsText). The text
 * of a UTC timestamp is rewritten as is, its fraction cut to milliseconds as a Date would keep it;
 * any other text is parsed as node-postgres parses it.
 */
export function iso(value: Date | string | null): string | null {
  if (value === null) return null;
  if (value instanceof Date) return value.toISOString();
  const m = UTC_TEXT.exec(value);
  if (m) return `${m[1]}T${m[2]}.${(m[3] ?? '').padEnd(3, '0').slice(0, 3)}Z`;
  return parseTimestamptz(value).toISOString();
}
