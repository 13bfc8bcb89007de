import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';

// This test always uses the embedded database, whichever pass runs it: it is what `npm start`
// does on a fresh machine with no PostgreSQL.
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-start-'));
const env = { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function serve(): { child: ChildProcess; url: Promise<string>; stderr: () => string } {
  const child = spawn(process.execPath, ['bin/opsledger.js', 'serve', '--port', '0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const url = new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const m = /serving on (http:\/\/\S+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  return { child, url, stderr: () => err };
}

it('serve on the embedded database answers /readyz, and a second process on the same data dir fails fast', async () => {
  const first = serve();
  const url = await first.url;
  const ready = await fetch(`${url}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ status: 'ready', database: 'pglite' });
  expect((await fetch(`${url}/healthz`)).status).toBe(200);

  const second = serve();
  second.url.catch(() => {});
  const code = await new Promise<number | null>((resolve) => second.child.once('exit', resolve));
  expect(code).toBe(1);
  expect(second.stderr().trim().split('\n').at(-1)).toMatch(
    /embedded database in .* is in use by process \d+/,
  );

  first.child.kill('SIGTERM');
  const exit = await new Promise<number | null>((resolve) => first.child.once('exit', resolve));
  expect(exit).toBe(0);
  // A clean stop releases the lock.
  expect(fs.existsSync(path.join(dataDir, 'opsledger.lock'))).toBe(false);
}, 120_000);
