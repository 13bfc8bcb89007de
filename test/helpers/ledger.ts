import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { tenantRepository } from '../../src/access/tenants.ts';
import type { OperationTypeDefinition } from '../../src/ledger/catalog.ts';
import type { RunRow } from '../../src/ledger/run.ts';
import { loadConfig } from '../../src/main/config.ts';
import { createOpsledger, type Opsledger, type OpsledgerOptions } from '../../src/main/opsledger.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { timeBudget } from './time.ts';

export const TEST_SECRET_KEY = 'a'.repeat(64);

export type TestLedger = Opsledger & {
  testDb: TestDatabase;
  /** Every log line written, parsed. */
  logs: Record<string, unknown>[];
  logText(): string;
  createTenant(name?: string): Promise<string>;
  waitForRun(
    tenantId: string,
    runId: string,
    until: (run: RunRow) => boolean,
    timeoutMs?: number,
  ): Promise<RunRow>;
  stop(): Promise<void>;
};

export type TestLedgerOptions = {
  definitions: OperationTypeDefinition[];
  worker?: boolean;
  env?: Record<string, string>;
  wrapQueue?: OpsledgerOptions['wrapQueue'];
  testDb?: TestDatabase;
};

/** A real ledger on a fresh database: real queue, real worker, captured logs. */
export async function startTestLedger(options: TestLedgerOptions): Promise<TestLedger> {
  const testDb = options.testDb ?? (await createTestDatabase());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-data-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    SECRET_KEY: TEST_SECRET_KEY,
    LOG_LEVEL: 'debug',
    ...(testDb.url ? { DATABASE_URL: testDb.url } : {}),
    ...options.env,
  });
  const logs: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      const text = chunk.toString();
      lines.push(text);
      for (const line of text.split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const ledger = await createOpsledger({
    config,
    definitions: options.definitions,
    logger,
    worker: options.worker ?? true,
    database: testDb.database,
    wrapQueue: options.wrapQueue,
  });
  return {
    ...ledger,
    testDb,
    logs,
    logText: () => lines.join(''),
    async createTenant(name = 'Tenant') {
      const t = await ledger.database.systemTx((trx) => tenantRepository.create(trx, { name }));
      return t.id;
    },
    async waitForRun(tenantId, runId, until, timeoutMs = 20_000) {
      const deadline = Date.now() + timeBudget(timeoutMs);
      let last: RunRow | null = null;
      while (Date.now() < deadline) {
        last = await ledger.service.getRow(tenantId, runId);
        if (until(last)) return last;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`run ${runId} did not reach the expected state; last: ${JSON.stringify(last)}`);
    },
    async stop() {
      await ledger.close();
      await testDb.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
