import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe } from './helpers/api-cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

/** migrate, prune and worker as child processes, on PostgreSQL (a cloned database) or a fresh DATA_DIR. */
let env: Record<string, string>;
let dataDir: string;
let testDb: TestDatabase | null = null;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-cli-'));
  env = { DATA_DIR: dataDir };
  if (process.env.DATABASE_URL) {
    testDb = await createTestDatabase();
    await testDb.database.close();
    env.DATABASE_URL = testDb.url!;
  }
});
afterAll(async () => {
  await testDb?.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('opsledger maintenance commands', () => {
  it('migrate applies what is pending, then reports the database up to date', async () => {
    const first = await runCli(['migrate'], env);
    expect(first.code, first.stderr).toBe(0);
    // A fresh embedded database gets every migration; the PostgreSQL clone is already migrated.
    expect(first.stdout).toMatch(
      testDb ? /^the database is up to date\n$/ : /^applied \d+ migration\(s\): 0001_ledger, 0002_access/,
    );
    const second = await runCli(['migrate'], env);
    expect(second.stdout).toBe('the database is up to date\n');
  });

  it('prune deletes nothing in a new database and says so', async () => {
    const r = await runCli(['prune'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^pruned 0 run\(s\) completed more than 90 days ago/);
  });

  it('worker starts, and stops cleanly on SIGTERM', async () => {
    const worker = await startServe(env, ['worker'], /worker started()/);
    expect(await worker.stop()).toBe(0);
  });

  it('bad flags print one line and exit 2', async () => {
    for (const args of [
      ['migrate', '--force'],
      ['prune', 'now'],
      ['serve', '--port', 'abc'],
      ['worker', '-x'],
    ]) {
      const r = await runCli(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });
});
