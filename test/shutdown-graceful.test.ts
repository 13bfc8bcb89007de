import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestLedger, TEST_SECRET_KEY, type TestLedger } from './helpers/ledger.ts';
import { onPostgres } from './helpers/target.ts';
import { testTaskType } from './helpers/test-types.ts';

const GRACE_S = 2;
let ledger: TestLedger | undefined;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-graceful-'));

afterAll(async () => {
  await ledger?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('SIGTERM: stops taking work, lets in-flight runs finish within the grace period, releases the rest, closes streams, exits 0', async () => {
  const testDb: TestDatabase | null = onPostgres() ? await createTestDatabase() : null;
  const child = spawn(process.execPath, ['test/fixtures/graceful-server.ts'], {
    env: {
      ...process.env,
      SECRET_KEY: TEST_SECRET_KEY,
      DATA_DIR: dataDir,
      SHUTDOWN_GRACE_SECONDS: String(GRACE_S),
      SHORT_MS: '1200',
      LONG_MS: '6000',
      ...(testDb?.url ? { DATABASE_URL: testDb.url } : { DATABASE_URL: '' }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`server exited early (${code}): ${stderr}`)));
  });
  const ids = JSON.parse(first) as {
    url: string;
    tenantId: string;
    token: string;
    short: string;
    long: string;
  };

  // An open stream, read until the server ends it.
  const res = await fetch(`${ids.url}/api/v1/tenants/${ids.tenantId}/operations/stream`, {
    headers: { authorization: `Bearer ${ids.token}` },
  });
  expect(res.status).toBe(200);
  const streamEnded = (async () => {
    const reader = res.body!.getReader();
    try {
      while (!(await reader.read()).done);
      return 'ended';
    } catch {
      return 'cut';
    }
  })();

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const signalledAt = Date.now();
  child.kill('SIGTERM');
  // New work is refused at once: the listener no longer accepts connections.
  await new Promise((r) => setTimeout(r, 300));
  const during = await fetch(`${ids.url}/healthz`).then(
    (r) => r.status,
    () => 'refused',
  );
  expect([503, 'refused']).toContain(during);
  expect(await streamEnded).toMatch(/ended|cut/);
  const code = await exited;
  const tookMs = Date.now() - signalledAt;
  console.log(`[shutdown] exit ${code} after ${tookMs} ms (grace ${GRACE_S * 1000} ms)`);
  expect(code, stderr).toBe(0);

  // Two ledgers on the database the server used, one after the other (the embedded one has one owner).
  const reopen = async (worker: boolean) =>
    startTestLedger({
      definitions: [testTaskType({ started: [], aborted: [] })],
      worker,
      testDb: {
        database: testDb
          ? await openDatabase({ kind: 'postgres', url: testDb.url! })
          : await openDatabase({ kind: 'pglite', dataDir }),
        url: testDb?.url ?? null,
        async destroy() {},
      },
    });
  ledger = await reopen(false);
  // The run that fit the grace period finished; the other went back to the queue. None is running.
  const short = await ledger.service.getRow(ids.tenantId, ids.short);
  expect(short).toMatchObject({ status: 'completed', outcome: 'succeeded', attempts: 1 });
  const long = await ledger.service.getRow(ids.tenantId, ids.long);
  expect(long).toMatchObject({ status: 'queued', attempts: 1 });
  expect(long.failure_summary[0]).toMatchObject({ code: 'worker_shutdown' });
  await ledger.stop();
  // A new worker picks the released run up and completes it once.
  ledger = await reopen(true);
  const done = await ledger.waitForRun(ids.tenantId, ids.long, (r) => r.status === 'completed', 30_000);
  expect(done).toMatchObject({ outcome: 'succeeded', attempts: 2 });
  await ledger.stop();
  ledger = undefined;
  await testDb?.destroy();
});
