import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Database } from './database.ts';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export type Migration = { version: number; name: string; sql: string };

// Any constant works; it only has to be the same in every process that migrates this database.
const MIGRATION_LOCK_KEY = 7_305_551_201;

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const files = fs.readdirSync(dir).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f));
  const migrations = files
    .map((file) => ({
      version: Number.parseInt(file.slice(0, 4), 10),
      name: file.replace(/\.sql$/, ''),
      sql: fs.readFileSync(path.join(dir, file), 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version === migrations[i - 1]!.version) {
      throw new Error(`two migrations are numbered ${migrations[i]!.version}: ${migrations[i]!.name}`);
    }
  }
  return migrations;
}

/**
 * Applies pending migrations, forward only, each in its own transaction.
 * Several processes may start at once: each migration takes a transaction-level advisory lock
 * and re-checks whether another process applied it meanwhile.
 */
export async function migrate(database: Database, migrations = readMigrations()): Promise<string[]> {
  const { db } = database;
  await sql`
    create table if not exists opsledger_migrations (
      version integer primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`
    .execute(db)
    .catch(async (err) => {
      // Two processes creating the table at once: one loses on the catalog's unique index.
      if ((err as { code?: string }).code !== '23505') throw err;
    });
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await database.systemTx(async (trx) => {
      await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`.execute(trx);
      const existing = await sql<{ name: string }>`
        select name from opsledger_migrations where version = ${migration.version}`.execute(trx);
      if (existing.rows.length > 0) {
        if (existing.rows[0]!.name !== migration.name) {
          throw new Error(
            `migration ${migration.version} is recorded as ${existing.rows[0]!.name} but the file is ${migration.name}`,
          );
        }
        return false;
      }
      await sql.raw(migration.sql).execute(trx);
      await sql`insert into opsledger_migrations (version, name) values (${migration.version}, ${migration.name})`.execute(
        trx,
      );
      return true;
    });
    if (done) applied.push(migration.name);
  }
  return applied;
}

export async function pendingMigrations(database: Database): Promise<string[]> {
  const all = readMigrations();
  const rows = await sql<{ version: number }>`
    select version from opsledger_migrations`
    .execute(database.db)
    .then((r) => r.rows)
    .catch(() => [] as { version: number }[]);
  const done = new Set(rows.map((r) => r.version));
  return all.filter((m) => !done.has(m.version)).map((m) => m.name);
}
