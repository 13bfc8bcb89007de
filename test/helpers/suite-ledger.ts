import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { GraphSimulator } from '../../src/graph/simulator.ts';
import type { RunRow } from '../../src/ledger/run.ts';
import { loadConfig } from '../../src/main/config.ts';
import { createRestoreRunService, createSuite, type Suite } from '../../src/main/suite.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { loadRootKey } from '../../src/shared/secret-key.ts';
import type { RestoreRunService } from '../../src/suite/restore/service.ts';
import { createTestDatabase } from './db.ts';
import { startTestLedger, TEST_SECRET_KEY, type TestLedger } from './ledger.ts';

export type SuiteLedger = TestLedger & {
  suite: Suite;
  restoreRuns: RestoreRunService;
  /** Starts a run and waits until it completes. */
  run(tenantId: string, type: string, inputs: Record<string, unknown>): Promise<RunRow>;
};

/** A real ledger with the suite's operation types, talking to a simulator over HTTP. */
export async function startSuiteLedger(
  options: {
    simulator?: GraphSimulator;
    env?: Record<string, string>;
    worker?: boolean;
    /** Sees the text of every statement the ledger sends (see DatabaseOptions.onQuery). */
    onQuery?: (sql: string) => void;
  } = {},
): Promise<SuiteLedger> {
  const testDb = await createTestDatabase({ onQuery: options.onQuery });
  const env = {
    ...(options.simulator ? { GRAPH_URL: options.simulator.url } : {}),
    ...options.env,
  };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-suite-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    SECRET_KEY: TEST_SECRET_KEY,
    ...(testDb.url ? { DATABASE_URL: testDb.url } : {}),
    ...env,
  });
  const suite = createSuite(
    {
      config,
      database: testDb.database,
      logger: createLogger({ level: 'silent' }),
      rootKey: loadRootKey(config),
    },
    {
      simulator: options.simulator,
      // Throttling in tests asks for 0–1 s; the bound keeps a bad fault from stalling a file.
      clientOptions: { maxRetries: 3, maxRetryAfterSeconds: 1, requestTimeoutMs: 10_000 },
      retryDelaySeconds: 0,
    },
  );
  const ledger = await startTestLedger({
    definitions: suite.definitions,
    testDb,
    env,
    worker: options.worker ?? true,
  });
  const stop = ledger.stop;
  const suiteLedger: SuiteLedger = Object.assign(ledger, {
    suite,
    restoreRuns: createRestoreRunService(ledger),
    async run(tenantId: string, type: string, inputs: Record<string, unknown>) {
      const { run } = await ledger.service.start({ tenantId, type, inputs, initiator: { kind: 'system' } });
      return ledger.waitForRun(tenantId, run.id, (r) => r.status === 'completed', 60_000);
    },
    async stop() {
      await stop();
      await suite.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  });
  return suiteLedger;
}

/** Every place a secret could have landed in the database: each public table's rows as text, and the queue. */
export async function findInDatabase(ledger: TestLedger, needles: string[]): Promise<string[]> {
  const db = ledger.database.db;
  const tables = await sql<{ name: string }>`
    select format('%I.%I', schemaname, tablename) as name from pg_tables
    where schemaname in ('public', 'pgboss')`.execute(db);
  const hits: string[] = [];
  for (const { name } of tables.rows) {
    const rows = await sql<{ t: string }>`select t::text as t from ${sql.raw(name)} t`.execute(db);
    for (const r of rows.rows)
      for (const n of needles) if (r.t.includes(n)) hits.push(`${name}: ${r.t.slice(0, 200)}`);
  }
  return hits;
}
