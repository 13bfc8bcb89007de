/**
 * `opsledger/testing`: what a suite developer needs to test an operation type against the real
 * ledger (real queue, real worker) on an embedded database held in memory, with no server and no
 * files left behind.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { openDatabase } from '../db/database.ts';
import type { OperationTypeDefinition } from '../ledger/catalog.ts';
import type { Run } from '../ledger/run.ts';
import type { StartRequest } from '../ledger/service.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { loadConfig } from './config.ts';
import { createTenant } from './index.ts';
import { createOpsledger, type Opsledger } from './opsledger.ts';

export type TestLedger = Opsledger & {
  /** A new tenant; its id. */
  createTenant(name?: string): Promise<string>;
  /** Waits until the run has completed (whatever its outcome) and returns it. */
  waitForRun(tenantId: string, runId: string, options?: { timeoutMs?: number }): Promise<Run>;
  /** Starts a run (by default as a `system` initiator) and waits for it to complete. */
  startAndWait(
    request: Omit<StartRequest, 'initiator'> & Partial<Pick<StartRequest, 'initiator'>>,
    options?: { timeoutMs?: number },
  ): Promise<Run>;
  /** Stops the worker and discards the database. */
  stop(): Promise<void>;
};

export type TestLedgerOptions = {
  definitions: readonly OperationTypeDefinition[];
  /** Run a worker (default true): without one, runs stay queued. */
  worker?: boolean;
  /** Extra environment for the configuration (e.g. TENANT_CONCURRENCY). */
  env?: Record<string, string>;
  /** Defaults to a silent logger. */
  logger?: Logger;
};

export async function startTestLedger(options: TestLedgerOptions): Promise<TestLedger> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-test-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    SECRET_KEY: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const database = await openDatabase({ kind: 'pglite-memory' });
  let ledger: Opsledger;
  try {
    ledger = await createOpsledger({
      config,
      definitions: options.definitions,
      logger: options.logger ?? createLogger({ level: 'silent' }),
      worker: options.worker ?? true,
      database,
    });
  } catch (err) {
    await database.close().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const waitForRun: TestLedger['waitForRun'] = async (tenantId, runId, { timeoutMs = 30_000 } = {}) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await ledger.service.get(tenantId, runId);
      if (run.status === 'completed') return run;
      if (Date.now() > deadline) throw new Error(`run ${runId} is still ${run.status} after ${timeoutMs}ms`);
      await delay(50);
    }
  };
  return {
    ...ledger,
    createTenant: (name = 'Test tenant') => createTenant(ledger, { name }),
    waitForRun,
    async startAndWait(request, waitOptions) {
      const { run } = await ledger.service.start({ initiator: { kind: 'system', name: 'test' }, ...request });
      return waitForRun(request.tenantId, run.id, waitOptions);
    },
    async stop() {
      await ledger.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
