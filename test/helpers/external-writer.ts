import { sql } from 'kysely';
import pg from 'pg';
import type { RunRow } from '../../src/ledger/run.ts';
import type { TestLedger } from './ledger.ts';

export type Query = (text: string, params?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

/**
 * Another application writing the suite's tables by plain SQL: its own connection (on PostgreSQL)
 * or the raw embedded database, no Opsledger code, no tenant setting, and optionally its own role
 * that has rights on the restore tables only.
 */
export type ExternalWriter = {
  tx<T>(fn: (q: Query) => Promise<T>, options?: { role?: string }): Promise<T>;
  close(): Promise<void>;
};

/** A role of another application: it may write restore records and nothing of the ledger. */
export const WRITER_ROLE = 'opsledger_test_restore_writer';

export async function externalWriter(ledger: TestLedger): Promise<ExternalWriter> {
  // Roles are shared by every database of a server: another test file may create it at once.
  await sql
    .raw(`DO $$ BEGIN CREATE ROLE ${WRITER_ROLE} NOLOGIN;
          EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`)
    .execute(ledger.database.db);
  const setup = `GRANT SELECT, INSERT, UPDATE, DELETE ON restore_runs, restore_run_items TO ${WRITER_ROLE}`;
  const url = ledger.testDb.url;
  if (url) {
    const client = new pg.Client({ connectionString: url, application_name: 'another-application' });
    await client.connect();
    await client.query(setup);
    return {
      async tx(fn, options = {}) {
        await client.query('begin');
        try {
          if (options.role) await client.query(`set local role ${options.role}`);
          const result = await fn((text, params) => client.query(text, params as unknown[]));
          await client.query('commit');
          return result;
        } catch (err) {
          await client.query('rollback');
          throw err;
        }
      },
      close: () => client.end(),
    };
  }
  const pglite = ledger.database.pglite!;
  await pglite.query(setup);
  return {
    tx: (fn, options = {}) =>
      pglite.transaction(async (t) => {
        if (options.role) await t.query(`set local role ${options.role}`);
        return fn(async (text, params) => ({
          rows: (await t.query(text, params as unknown[])).rows as Record<string, unknown>[],
        }));
      }),
    close: async () => {},
  };
}

/** The mirrors of one restore record, read across tenants (there must be exactly one). */
export async function mirrorsOfSource(ledger: TestLedger, restoreId: string): Promise<RunRow[]> {
  return (await ledger.database.db
    .selectFrom('operation_runs')
    .selectAll()
    .where('source_type', '=', 'restore_run')
    .where('source_id', '=', restoreId)
    .execute()) as RunRow[];
}
