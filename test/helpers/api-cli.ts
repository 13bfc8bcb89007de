import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { timeBudget } from './time.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/opsledger.js');

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** Runs `opsledger …` as a child process, as a user would; `input` is piped to its stdin. */
/** `timeoutMs` is a budget against hangs, scaled by TEST_TIME_SCALE. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
  input?: string,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'warn', ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`opsledger ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, timeBudget(timeoutMs));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Starts a long-running command (by default `opsledger serve --port 0`) and resolves once its
 * output matches `ready`, with the URL it printed (if any).
 */
export function startServe(
  env: Record<string, string>,
  args: string[] = ['serve', '--port', '0'],
  ready: RegExp = /serving on (http:\/\/[^\s]+)/,
): Promise<{ url: string; child: ChildProcess; stop(): Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args[0]} did not start; stderr: ${err}`));
    }, timeBudget(90_000));
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1] ?? '',
          child,
          stop: () =>
            new Promise((done) => {
              child.once('close', (code) => done(code));
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code}; stderr: ${err}`));
    });
  });
}

/**
 * The environment CLI child processes of one test file run with: a cloned PostgreSQL database in
 * the PostgreSQL pass (the children own the connections), a fresh DATA_DIR in the embedded one.
 * Registers its own setup and cleanup; read `env` inside tests.
 */
export function useCliTarget(): { env: Record<string, string> } {
  const target = { env: {} as Record<string, string> };
  let dataDir = '';
  let testDb: TestDatabase | null = null;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-cli-'));
    target.env = { DATA_DIR: dataDir };
    if (process.env.DATABASE_URL) {
      testDb = await createTestDatabase();
      // Only needed to drop the clone at the end.
      await testDb.database.close();
      target.env.DATABASE_URL = testDb.url!;
    }
  });
  afterAll(async () => {
    await testDb?.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return target;
}
