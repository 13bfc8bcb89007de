import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate, pendingMigrations, readMigrations } from '../src/db/migrator.ts';
import { onPostgres, withDatabaseName } from './helpers/target.ts';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Two handles on one new, empty database (two pools on PostgreSQL; one instance on PGlite). */
async function emptyDatabase(): Promise<[Database, Database]> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const db = await openDatabase({ kind: 'pglite-memory' });
    cleanups.push(() => db.close());
    return [db, db];
  }
  const name = `opsledger_m_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = withDatabaseName(adminUrl, name);
  const a = await openDatabase({ kind: 'postgres', url });
  const b = await openDatabase({ kind: 'postgres', url });
  cleanups.push(async () => {
    await a.close();
    await b.close();
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`drop database if exists ${name} with (force)`);
    await c.end();
  });
  return [a, b];
}

it('two migrators racing on a new database (separate connections on PostgreSQL) apply each migration exactly once', async () => {
  const [a, b] = await emptyDatabase();
  const [appliedA, appliedB] = await Promise.all([migrate(a), migrate(b)]);
  const all = readMigrations().map((m) => m.name);
  // Between them every migration was applied, and none twice.
  expect([...appliedA, ...appliedB].sort()).toEqual([...all].sort());
  const rows = await sql<{ name: string }>`select name from opsledger_migrations order by version`.execute(
    a.db,
  );
  expect(rows.rows.map((r) => r.name)).toEqual(all);
  expect(await pendingMigrations(a)).toEqual([]);
  expect(await migrate(b)).toEqual([]);
  console.log(`[migrate] ${onPostgres() ? 'PostgreSQL: two pools' : 'embedded: two concurrent calls'} raced`);
});

it('a failing migration leaves nothing of itself behind, and the ones before it stay applied', async () => {
  const [db] = await emptyDatabase();
  const migrations = [
    { version: 1, name: '0001_first', sql: 'create table first_table (id int primary key);' },
    { version: 2, name: '0002_broken', sql: 'create table half_done (id int); select 1 / 0;' },
  ];
  await expect(migrate(db, migrations)).rejects.toThrow(/division by zero/);
  const tables = await sql<{ t: string }>`
    select tablename as t from pg_tables where schemaname = 'public' order by 1`.execute(db.db);
  expect(tables.rows.map((r) => r.t)).toEqual(['first_table', 'opsledger_migrations']);
  const recorded = await sql<{ name: string }>`select name from opsledger_migrations`.execute(db.db);
  expect(recorded.rows).toEqual([{ name: '0001_first' }]);
});
