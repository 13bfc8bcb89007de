import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import {
  type Compilable,
  DummyDriver,
  Kysely,
  type LogEvent,
  PostgresAdapter,
  PostgresDialect,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type RawBuilder,
  type RootOperationNode,
  sql,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.ts';
import { standaloneSql } from './literal-sql.ts';
import { PGliteDialect } from './pglite-dialect.ts';
import { openReadReplica, type ReadReplica, type ReplicaStateEvent } from './read-replica.ts';
import type { DB } from './schema.ts';

export type Trx = Transaction<DB>;

export type DatabaseKind = 'postgres' | 'pglite';

export type TenantTxOptions = {
  /** Every statement of the transaction is cancelled by the server after this long (monitoring reads). */
  statementTimeoutMs?: number;
};

export type TenantReadOptions = TenantTxOptions & {
  /**
   * Timestamps as the database's text (`2026-11-28 09:15:02.123456+00`) instead of Dates, for rows
   * that are only presented (see iso() in shared/time.ts): parsing each into a Date to format it
   * back was a tenth of a page's CPU. Where the read cannot go as one message they are Dates.
   */
  timestampsAsText?: boolean;
};

/** Type parsers that leave timestamp and timestamptz as the server's text. */
const TIMESTAMP_OIDS = [1114, 1184];
const asText = (value: string) => value;
const TEXT_TIMESTAMPS = {
  getTypeParser: (oid: number, format?: string) =>
    TIMESTAMP_OIDS.includes(oid) ? asText : pg.types.getTypeParser(oid, format as 'text'),
};

export type Database = {
  kind: DatabaseKind;
  db: Kysely<DB>;
  /** Set on the embedded database only. */
  pglite: PGlite | null;
  /** Set on PostgreSQL only. */
  pool: pg.Pool | null;
  /**
   * Runs fn in a transaction scoped to one tenant: the application role with row-level security
   * and the tenant id as a transaction-local setting. Queries must still filter by tenant; RLS is
   * the second wall, not the first.
   */
  tenantTx<T>(tenantId: string, fn: (trx: Trx) => Promise<T>, options?: TenantTxOptions): Promise<T>;
  /**
   * tenantTx for monitoring reads, read-only: on the read replica (DATABASE_READ_URL) when it is
   * close enough and holds the tenant's latest run changes, else on the primary. Never for a read
   * that must see what the caller just wrote. Without a replica it runs on the primary.
   */
  tenantReadTx<T>(tenantId: string, fn: (trx: Trx) => Promise<T>): Promise<T>;
  /** The read replica, on PostgreSQL with DATABASE_READ_URL only. */
  readReplica: ReadReplica | null;
  /**
   * tenantReadTx for one read statement (the hot reads: a page of runs, one run), in one message to
   * the database: the scope, the query and the scope check travel together (see oneMessage).
   * With a read replica it goes the way of tenantReadTx.
   */
  tenantRead<R>(tenantId: string, query: TenantReadQuery<R>, options?: TenantReadOptions): Promise<R[]>;
  /**
   * tenantTx for one write statement (the worker's transitions: claim, heartbeat, complete), in one
   * message to the primary as tenantRead sends a read: one round trip instead of three. Its rows
   * are the statement's (an UPDATE … RETURNING).
   */
  tenantWrite<R>(tenantId: string, query: TenantReadQuery<R>): Promise<R[]>;
  /** A transaction with the connecting role: for cross-tenant work (reaper, pruner, migrations). */
  systemTx<T>(fn: (trx: Trx) => Promise<T>): Promise<T>;
  /** LISTEN on a channel; returns a function that stops listening. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
};

export type DatabaseOptions = (
  | {
      kind: 'postgres';
      url: string;
      /**
       * A connection straight to PostgreSQL for what a transaction-mode pooler breaks (LISTEN);
       * `url` may then point at the pooler. Defaults to `url`.
       */
      directUrl?: string | null;
      max?: number;
      applicationName?: string;
      /** A streaming replica for monitoring reads (tenantReadTx), and how far behind it may be. */
      read?: {
        url: string;
        maxLagSeconds: number;
        onStateChange?: (event: ReplicaStateEvent) => void;
      };
    }
  | { kind: 'pglite'; dataDir: string }
  /** An embedded database loaded from a dump and kept in memory (tests clone one migrated template). */
  | { kind: 'pglite-memory'; loadDataDir?: Blob }
) & {
  /**
   * Called with the text of every statement sent through `db` (and the transactions), after it
   * ran or failed: for diagnostics, such as capturing the SQL a code path emits. Parameters are
   * not passed, so no value reaches it.
   */
  onQuery?: (sql: string) => void;
};

/** Kysely's log hook for DatabaseOptions.onQuery. */
function queryLog(onQuery: DatabaseOptions['onQuery']) {
  return onQuery ? { log: (event: LogEvent) => onQuery(event.query.sql) } : {};
}

// pg returns int8 (count(*), sums) as strings; the ledger only counts things that fit a double.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

/**
 * Binds the transaction to one tenant and drops to the application role in one round trip. The
 * tenant is signed by the database (see migration 0005), so a statement inside cannot re-bind it;
 * and before the transaction commits it must still be the application role bound to that tenant,
 * so a statement that switched role or tenant makes the whole transaction fail and nothing it read
 * or wrote leaves it.
 */
async function scoped<T>(
  trx: Trx,
  tenantId: string,
  fn: (trx: Trx) => Promise<T>,
  options: TenantTxOptions = {},
): Promise<T> {
  await scopeToTenant(trx, tenantId, options);
  const result = await fn(trx);
  const { rows } = await sql<{ ok: boolean }>`
    select current_user = 'opsledger_app' and opsledger_tenant() is not distinct from ${tenantId}::uuid as ok`.execute(
    trx,
  );
  if (!rows[0]?.ok) throw new TenantScopeError();
  return result;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The SQLSTATE the closing check of a tenant transaction raises (a class of our own). */
const SCOPE_LEFT = 'OL001';

/**
 * The tenant transaction on PostgreSQL in three round trips instead of five: `begin` and the
 * scope go together, and the closing check goes with `commit`. Both are multi-statement simple
 * queries, which take no parameters, so the tenant id is written into the text; it is used only
 * when it is a UUID (matched above), anything else takes the general path and fails as before.
 * The check raises rather than answers, so when it fails the server skips the `commit` behind it
 * and the transaction is rolled back: the same guarantee as `scoped`, without a round trip.
 */
async function pgTenantTx<T>(
  db: Kysely<DB>,
  tenantId: string,
  fn: (trx: Trx) => Promise<T>,
  options: TenantTxOptions = {},
): Promise<T> {
  if (!UUID.test(tenantId)) return db.transaction().execute((trx) => scoped(trx, tenantId, fn, options));
  const t = tenantId.toLowerCase();
  return db.connection().execute(async (conn) => {
    let result: T;
    try {
      await sql`begin; ${scopeStatement(sql.lit(t), options)}`.execute(conn);
      // A connection in a transaction is what a Transaction is; Kysely only types them apart.
      result = await fn(conn as unknown as Trx);
      await sql.raw(`${scopeCheck(t)}; commit`).execute(conn);
    } catch (err) {
      await sql
        .raw('rollback')
        .execute(conn)
        .catch(() => {});
      throw (err as { code?: unknown }).code === SCOPE_LEFT ? new TenantScopeError() : err;
    }
    return result;
  });
}

/** Fails the transaction unless it is still the application role bound to tenant `t` (a UUID). */
function scopeCheck(t: string): string {
  return `do $$ begin
    if current_user <> 'opsledger_app' or opsledger_tenant() is distinct from '${t}'::uuid then
      raise exception 'tenant scope left' using errcode = '${SCOPE_LEFT}';
    end if;
  end $$`;
}

/** A query tenantRead or tenantWrite can send: a Kysely query builder (not yet executed). */
export type TenantReadQuery<R> = Compilable<R> & { toOperationNode(): RootOperationNode };

/**
 * One statement in a tenant transaction as a single message: the scope, the query (its values
 * written inline, see literal-sql.ts), and the scope check, which fails the transaction before its
 * end when the scope was left. The message is one implicit transaction (see sendOneMessage):
 * one round trip for what tenantTx does in three. Anything that cannot go this way (a tenant id that
 * is not a UUID, a value with no literal form) goes through tenantTx, with the same result.
 * The query log sees the message with the query in its parameterised form, never a value.
 */
async function oneMessage<R>(
  database: Pick<Database, 'tenantTx'>,
  tenantId: string,
  query: TenantReadQuery<R>,
  options: TenantReadOptions & { readOnly: boolean },
  send: (text: string, logged: () => string, textTimestamps: boolean) => Promise<{ rows: unknown[] }[]>,
): Promise<R[]> {
  const inline = UUID.test(tenantId) ? standaloneSql(query) : null;
  if (inline === null) {
    return database.tenantTx(
      tenantId,
      async (trx) => (await trx.executeQuery(query.compile())).rows,
      options,
    );
  }
  const t = tenantId.toLowerCase();
  // A read opens its implicit transaction read-only: the statement after it cannot write.
  const open = options.readOnly ? 'set transaction read only; ' : '';
  const scope = scopeStatement(sql.lit(t), options).compile(LOG_COMPILER).sql;
  // Compiled for the query log only when there is one: the hot path does not pay for it.
  const logged = () =>
    `${open}${scopeStatement(sql.val(t), options).compile(LOG_COMPILER).sql}; ${query.compile().sql}; ${scopeCheck('$1')}`;
  try {
    const results = await send(
      `${open}${scope}; ${inline}; ${scopeCheck(t)}`,
      logged,
      options.timestampsAsText === true,
    );
    return results[options.readOnly ? 2 : 1]!.rows as R[];
  } catch (err) {
    throw (err as { code?: unknown }).code === SCOPE_LEFT ? new TenantScopeError() : err;
  }
}

/** A TenantReadQuery run in an open tenant transaction (the ways other than oneMessage). */
async function readIn<R>(trx: Trx, query: TenantReadQuery<R>, options: TenantTxOptions): Promise<R[]> {
  const timeout = options.statementTimeoutMs;
  if (timeout)
    await sql`select set_config('statement_timeout', ${String(Math.trunc(timeout))}, true)`.execute(trx);
  return (await trx.executeQuery(query.compile())).rows;
}

/** Compiles the scope statements for oneMessage (any Kysely instance of the dialect would do). */
const LOG_COMPILER = new Kysely<DB>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** A tenant transaction that left its role or tenant: rolled back, never trusted. */
export class TenantScopeError extends Error {
  override name = 'TenantScopeError';
  constructor() {
    super('a tenant transaction changed its role or tenant; it was rolled back');
  }
}

/**
 * The scope's settings as one SELECT over the tenant (a parameter, or a literal where the text must
 * stand alone). The signature is taken before the role changes: only the connecting role may sign.
 */
function scopeStatement(tenant: RawBuilder<unknown>, options: TenantTxOptions) {
  const timeout = options.statementTimeoutMs;
  return sql`select set_config('opsledger.tenant_id', ${tenant}, true),
                    set_config('opsledger.tenant_sig', opsledger_tenant_signature(${tenant}::uuid), true),
                    set_config('role', 'opsledger_app', true)${
                      timeout
                        ? sql`, set_config('statement_timeout', ${sql.lit(String(Math.trunc(timeout)))}, true)`
                        : sql``
                    }`;
}

/**
 * Binds an open transaction to one tenant for the rest of its life, as tenantTx begins: the
 * signed tenant and the application role (a transaction that starts cross-tenant, like the firing
 * of a due schedule, narrows itself this way before it writes the tenant's rows).
 */
export async function scopeToTenant(
  trx: Trx,
  tenantId: string,
  options: TenantTxOptions = {},
): Promise<void> {
  await scopeStatement(sql.val(tenantId), options).execute(trx);
}

/**
 * PostgreSQL's defaults inside PGlite, made for a process of its own: 128 MB of shared buffers,
 * allocated and touched at start, are resident for the life of the process (half of an idle
 * embedded server). The embedded database serves one installation's ledger from the operating
 * system's file cache just as well with 32 MB.
 */
const EMBEDDED_SETTINGS = ['-c', 'shared_buffers=32MB'];

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.max ?? 10,
      application_name: options.applicationName ?? 'opsledger',
      // A dead or unreachable server must surface as an error, not a hang.
      connectionTimeoutMillis: 10_000,
    });
    // Idle clients that lose their server emit 'error'; without a handler that kills the process.
    pool.on('error', () => {});
    // So do clients checked out between two queries (a transaction in progress when the server
    // goes): the query in flight fails on its own, and a broken client is not reused.
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }), ...queryLog(options.onQuery) });
    const replica = options.read
      ? openReadReplica({
          ...options.read,
          max: options.max ?? 10,
          applicationName: options.applicationName ?? 'opsledger',
          primary: db,
          kysely: queryLog(options.onQuery),
        })
      : null;
    const readTx = <T>(on: Kysely<DB>, tenantId: string, fn: (trx: Trx) => Promise<T>) =>
      on
        .transaction()
        .setAccessMode('read only')
        .execute((trx) => scoped(trx, tenantId, fn));
    /**
     * Sends a oneMessage text on a pooled connection. Its statements are one simple-query message,
     * which PostgreSQL runs as one implicit transaction: committed at its end, rolled back whole
     * at its first error, after which the connection is idle again (no rollback to send).
     */
    const sendOneMessage = async (
      text: string,
      logged: () => string,
      textTimestamps: boolean,
    ): Promise<{ rows: unknown[] }[]> => {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        return (await client.query(
          textTimestamps ? { text, types: TEXT_TIMESTAMPS } : text,
        )) as unknown as pg.QueryResult[];
      } catch (err) {
        // An error the server answered leaves the connection usable; any other (the connection
        // lost on the way) does not, and the pool drops it.
        if (!(err instanceof pg.DatabaseError)) broken = err as Error;
        throw err;
      } finally {
        client.release(broken);
        options.onQuery?.(logged());
      }
    };
    return {
      kind: 'postgres',
      db,
      pglite: null,
      pool,
      tenantTx: (tenantId, fn, options) => pgTenantTx(db, tenantId, fn, options),
      tenantReadTx: (tenantId, fn) =>
        replica ? replica.router.route(tenantId, (on) => readTx(on, tenantId, fn)) : readTx(db, tenantId, fn),
      readReplica: replica?.router ?? null,
      tenantRead(this: Database, tenantId, query, readOptions = {}) {
        if (replica) return this.tenantReadTx(tenantId, (trx) => readIn(trx, query, readOptions));
        return oneMessage(this, tenantId, query, { ...readOptions, readOnly: true }, sendOneMessage);
      },
      tenantWrite(this: Database, tenantId, query) {
        return oneMessage(this, tenantId, query, { readOnly: false }, sendOneMessage);
      },
      systemTx: (fn) => db.transaction().execute(fn),
      async listen(channel, onPayload) {
        const sqlChannel = pg.escapeIdentifier(channel);
        let client: pg.Client | null = null;
        let stopped = false;
        let retry: NodeJS.Timeout | null = null;
        // A LISTEN lives on one session, so it gets a connection of its own, outside the pool and
        // on the direct URL: behind a transaction-mode pooler (PgBouncer) a LISTEN sent through
        // the pool would be registered on whichever server connection served it and its notices
        // lost. When the server drops it, listen again on a new one (notices sent in the gap are
        // lost, as they would be for any listener).
        const subscribe = async (): Promise<void> => {
          const c = new pg.Client({
            connectionString: options.directUrl ?? options.url,
            application_name: `${options.applicationName ?? 'opsledger'}-listen`,
            connectionTimeoutMillis: 10_000,
          });
          let failed = false;
          const onLost = () => {
            if (failed) return;
            failed = true;
            if (client === c) client = null;
            c.end().catch(() => {});
            if (!stopped) schedule();
          };
          c.on('notification', (msg) => {
            if (msg.channel === channel && msg.payload !== undefined) onPayload(msg.payload);
          });
          c.on('error', onLost);
          c.on('end', onLost);
          try {
            await c.connect();
            await c.query(`LISTEN ${sqlChannel}`);
          } catch (err) {
            failed = true;
            await c.end().catch(() => {});
            throw err;
          }
          if (stopped) {
            failed = true;
            await c.end().catch(() => {});
            return;
          }
          client = c;
        };
        const schedule = () => {
          if (retry || stopped) return;
          retry = setTimeout(() => {
            retry = null;
            if (!stopped) subscribe().catch(() => schedule());
          }, 1000);
          retry.unref();
        };
        await subscribe();
        return async () => {
          stopped = true;
          if (retry) clearTimeout(retry);
          const c = client;
          client = null;
          if (!c) return;
          c.removeAllListeners('end');
          c.on('error', () => {});
          await c.end().catch(() => {});
        };
      },
      async close() {
        await replica?.close();
        await db.destroy();
      },
    };
  }

  let release: (() => void) | null = null;
  let pglite: PGlite;
  if (options.kind === 'pglite') {
    release = await lockDataDir(options.dataDir);
    try {
      pglite = await PGlite.create(path.join(options.dataDir, 'pglite'), {
        startParams: [...PGlite.defaultStartParams, ...EMBEDDED_SETTINGS],
      });
    } catch (err) {
      release();
      throw err;
    }
  } else {
    pglite = await PGlite.create(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {});
  }
  const db = new Kysely<DB>({ dialect: new PGliteDialect(pglite), ...queryLog(options.onQuery) });
  // One exec: PGlite runs it under its transaction lock, as every transaction of the dialect (see
  // pglite-dialect.ts), and PostgreSQL runs the message as one implicit transaction, committed at
  // its end or rolled back whole at its first error. (No BEGIN and COMMIT of their own: two calls
  // into PGlite fewer for every read.)
  const textParsers = Object.fromEntries(TIMESTAMP_OIDS.map((oid) => [oid, asText]));
  const pgliteSend = async (text: string, logged: () => string, textTimestamps: boolean) => {
    try {
      return await pglite.exec(text, textTimestamps ? { parsers: textParsers } : undefined);
    } finally {
      options.onQuery?.(logged());
    }
  };
  return {
    kind: 'pglite',
    db,
    pglite,
    pool: null,
    tenantTx: (tenantId, fn, options) =>
      db.transaction().execute((trx) => scoped(trx, tenantId, fn, options)),
    // One process, one database: there is no replica to read from.
    tenantReadTx: (tenantId, fn) => db.transaction().execute((trx) => scoped(trx, tenantId, fn)),
    readReplica: null,
    tenantRead(this: Database, tenantId, query, readOptions = {}) {
      return oneMessage(this, tenantId, query, { ...readOptions, readOnly: true }, pgliteSend);
    },
    tenantWrite(this: Database, tenantId, query) {
      return oneMessage(this, tenantId, query, { readOnly: false }, pgliteSend);
    },
    systemTx: (fn) => db.transaction().execute(fn),
    async listen(channel, onPayload) {
      const unsubscribe = await pglite.listen(channel, onPayload);
      return async () => {
        if (!pglite.closed) await unsubscribe();
      };
    },
    async close() {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
      release?.();
    },
  };
}
