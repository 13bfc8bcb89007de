import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { reaperPeriodSeconds } from '../src/worker/worker.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestLedger, TEST_SECRET_KEY, type TestLedger } from './helpers/ledger.ts';
import { onPostgres } from './helpers/target.ts';
import { testTaskType } from './helpers/test-types.ts';

const STALE = 5;
let ledger: TestLedger | undefined;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-crash-'));

afterAll(async () => {
  await ledger?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('a worker killed with SIGKILL mid-run: its runs are retried or failed worker_lost, never left running', async () => {
  // On PostgreSQL the child and this process share a cloned database; on the embedded database
  // they share a data directory, one after the other (the child holds it until it is killed).
  const testDb: TestDatabase | null = onPostgres() ? await createTestDatabase() : null;
  const env = {
    ...process.env,
    SECRET_KEY: TEST_SECRET_KEY,
    DATA_DIR: dataDir,
    STALE_RUN_SECONDS: String(STALE),
    ...(testDb?.url ? { DATABASE_URL: testDb.url } : { DATABASE_URL: '' }),
  };
  const child = spawn(process.execPath, ['test/fixtures/crash-worker.ts'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`crash worker exited early (${code}): ${stderr}`)));
  });
  const ids = JSON.parse(first) as { tenantId: string; retried: string; lost: string };
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  const killedAt = Date.now();

  ledger = await startTestLedger({
    definitions: [
      testTaskType({ started: [], aborted: [] }),
      testTaskType({ started: [], aborted: [] }, { name: 'test.once', label: 'Once', maxAttempts: 1 }),
    ],
    env: { STALE_RUN_SECONDS: String(STALE) },
    testDb: testDb ?? {
      database: await openDatabase({ kind: 'pglite', dataDir }),
      url: null,
      async destroy() {},
    },
  });
  const bound = (STALE + reaperPeriodSeconds(STALE)) * 1000;
  const lost = await ledger.waitForRun(
    ids.tenantId,
    ids.lost,
    (r) => r.status === 'completed',
    bound + 20_000,
  );
  const lostAfter = Date.now() - killedAt;
  expect(lost).toMatchObject({ outcome: 'failed', attempts: 1 });
  expect(lost.failure_summary[0]).toMatchObject({ code: 'worker_lost' });
  const retried = await ledger.waitForRun(
    ids.tenantId,
    ids.retried,
    (r) => r.status === 'completed',
    bound + 20_000,
  );
  expect(retried).toMatchObject({ outcome: 'succeeded', attempts: 2 });
  // The reaper acted within the stale window plus one reaper period, plus the time this
  // process took to open the database and start (counted from the kill).
  console.log(`[crash] worker_lost after ${lostAfter} ms; bound ${bound} ms + start-up`);
  expect(lostAfter).toBeLessThan(bound + 15_000);
});
