import type { PGlite, Results, Transaction } from '@electric-sql/pglite';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from 'kysely';

/**
 * Kysely dialect over PGlite whose transactions run inside `pglite.transaction()`.
 *
 * PGlite is one session shared by everything in the process. Sending BEGIN/COMMIT as plain
 * statements (as a generic dialect does) lets a query from outside the transaction slip in
 * between and be committed or rolled back with it. `pglite.transaction()` holds PGlite's
 * transaction lock, so outside queries wait until it ends. The cost: anything called while a
 * transaction is open must go through that transaction, or it waits on the lock forever.
 */
export class PGliteDialect implements Dialect {
  #pglite: PGlite;
  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.#pglite);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
}

type Executor = Pick<Transaction, 'query' | 'exec'>;

async function run<R>(executor: Executor, compiled: CompiledQuery): Promise<QueryResult<R>> {
  const params = compiled.parameters as unknown[];
  let result: Results<R>;
  if (params.length === 0) {
    // Without parameters a statement may be a multi-statement script (migrations, pg-boss DDL);
    // exec() runs those. Keep the last result that carries rows, as node-postgres callers expect.
    const results = (await executor.exec(compiled.sql)) as Results<R>[];
    result = results.findLast((r) => r.fields.length > 0) ?? results.at(-1) ?? { rows: [], fields: [] };
  } else {
    result = await executor.query<R>(compiled.sql, params);
  }
  return {
    rows: result.rows,
    numAffectedRows: result.affectedRows === undefined ? undefined : BigInt(result.affectedRows),
  };
}

class PGliteConnection implements DatabaseConnection {
  #pglite: PGlite;
  tx: Transaction | null = null;
  /** Settles the callback given to pglite.transaction(): resolve commits, reject rolls back. */
  finish: ((commit: boolean) => void) | null = null;
  done: Promise<unknown> | null = null;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    return run<R>(this.tx ?? this.#pglite, compiled);
  }

  // biome-ignore lint/correctness/useYield: streaming is not supported on PGlite
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGlite dialect does not support streaming');
  }
}

const ROLLBACK = Symbol('rollback');

class PGliteDriver implements Driver {
  #pglite: PGlite;
  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }
  async init() {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return new PGliteConnection(this.#pglite);
  }
  async beginTransaction(connection: DatabaseConnection, settings: { isolationLevel?: string }) {
    const conn = connection as PGliteConnection;
    await new Promise<void>((started, failedToStart) => {
      conn.done = this.#pglite
        .transaction(async (tx) => {
          conn.tx = tx;
          if (settings.isolationLevel) {
            await tx.exec(`set transaction isolation level ${settings.isolationLevel}`);
          }
          const commit = await new Promise<boolean>((resolve) => {
            conn.finish = resolve;
            started();
          });
          if (!commit) throw ROLLBACK;
        })
        .catch((err) => {
          if (err === ROLLBACK) return;
          failedToStart(err);
          throw err;
        });
    });
  }
  async commitTransaction(connection: DatabaseConnection) {
    const conn = connection as PGliteConnection;
    conn.finish?.(true);
    try {
      await conn.done;
    } finally {
      conn.tx = null;
      conn.finish = null;
      conn.done = null;
    }
  }
  async rollbackTransaction(connection: DatabaseConnection) {
    const conn = connection as PGliteConnection;
    conn.finish?.(false);
    try {
      await conn.done;
    } catch {
      // The transaction is over either way; a failed rollback leaves nothing committed.
    } finally {
      conn.tx = null;
      conn.finish = null;
      conn.done = null;
    }
  }
  async releaseConnection() {}
  async destroy() {}
}
