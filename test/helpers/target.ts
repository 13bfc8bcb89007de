/** Which database this test run is against: PostgreSQL when DATABASE_URL is set, else embedded. */
export const onPostgres = (): boolean => Boolean(process.env.DATABASE_URL);

export function describeTarget(): string {
  if (!process.env.DATABASE_URL) return 'embedded PGlite (in memory, cloned per test file)';
  const u = new URL(process.env.DATABASE_URL);
  return `PostgreSQL at ${u.hostname}:${u.port || 5432} (a database cloned from a template per test file)`;
}

export function withDatabaseName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}
