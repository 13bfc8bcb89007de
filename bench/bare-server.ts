// The bare baseline: a minimal Fastify + pg server that runs the very SELECT the ledger's list
// runs for a tenant's first page, with no authentication, no tenant transaction and a plain
// JSON.stringify of the rows. What this endpoint could serve on this machine with no product in
// the way. The SELECT is not copied by hand: it is compiled from the ledger's own repository
// (runRepository.list with no filters, no cursor, the page size plus one, as the service asks),
// so it follows the repository when the repository changes.
// Usage: DATABASE_URL=… node bench/bare-server.ts  → prints {"url"}; GET /runs?tenant=<uuid>
import Fastify from 'fastify';
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import type { DB } from '../src/db/schema.ts';
import { runRepository } from '../src/ledger/repository.ts';

export const PAGE = 50;

/** The list statement of the ledger's repository, as text with its parameters. */
export async function ledgerListStatement(tenantId: string): Promise<{ sql: string; parameters: unknown[] }> {
  let captured: { sql: string; parameters: readonly unknown[] } | null = null;
  const db = new Kysely<DB>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    log: (event) => {
      captured ??= event.query;
    },
  });
  await runRepository.list(db as unknown as Transaction<DB>, tenantId, {}, null, PAGE + 1);
  await db.destroy();
  if (!captured) throw new Error('the repository ran no statement');
  const { sql, parameters } = captured;
  return { sql, parameters: [...parameters] };
}

if (import.meta.main) {
  const placeholder = '00000000-0000-0000-0000-000000000000';
  const statement = await ledgerListStatement(placeholder);
  const tenantIndex = statement.parameters.indexOf(placeholder);
  if (tenantIndex < 0) throw new Error('the list statement has no tenant parameter');
  // As many connections as the ledger's own pool.
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
  const app = Fastify({ logger: false });
  app.get('/runs', async (request) => {
    const params = [...statement.parameters];
    params[tenantIndex] = (request.query as { tenant: string }).tenant;
    const { rows } = await pool.query(statement.sql, params);
    return { data: rows.slice(0, PAGE) };
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`${JSON.stringify({ url, sql: statement.sql })}\n`);
  process.once('SIGTERM', async () => {
    await app.close();
    await pool.end();
    process.exit(0);
  });
}
