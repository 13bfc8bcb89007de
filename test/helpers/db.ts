import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/db/database.ts';
import { withDatabaseName } from './target.ts';

export type TestDatabase = {
  database: Database;
  /** Set on PostgreSQL: the clone's URL (for child processes and pg-boss). */
  url: string | null;
  /** Closes the connection and drops the clone. */
  destroy(): Promise<void>;
};

/** A fresh database for one test file, cloned from the migrated template. */
export async function createTestDatabase(
  options: { onQuery?: (sql: string) => void } = {},
): Promise<TestDatabase> {
  const adminUrl = process.env.DATABASE_URL;
  if (adminUrl) {
    const name = `opsledger_t_${process.ppid}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`create database ${name} template ${inject('pgTemplate')}`);
    await admin.end();
    const url = withDatabaseName(adminUrl, name);
    const database = await openDatabase({ kind: 'postgres', url, max: 20, onQuery: options.onQuery });
    return {
      database,
      url,
      async destroy() {
        await database.close().catch(() => {});
        const c = new pg.Client({ connectionString: adminUrl });
        await c.connect();
        await c.query(`drop database if exists ${name} with (force)`);
        await c.end();
      },
    };
  }
  const dump = fs.readFileSync(inject('pgliteDump'));
  const database = await openDatabase({
    kind: 'pglite-memory',
    loadDataDir: new Blob([dump]),
    onQuery: options.onQuery,
  });
  return {
    database,
    url: null,
    async destroy() {
      await database.close().catch(() => {});
    },
  };
}
