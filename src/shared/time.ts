/** A database timestamp (Date from pg, string from PGlite) as ISO 8601 UTC, or null. */
export function iso(value: Date | string | null): string | null {
  if (value === null) return null;
  return (value instanceof Date ? value : new Date(value)).toISOString();
}
