import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { timeBudget } from './helpers/time.ts';

// This test always uses the embedded database, whichever pass runs it: it is what `npm start`
// does on a fresh machine with no PostgreSQL.
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-start-'));
const env = { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function serve(): {
  child: ChildProcess;
  url: Promise<string>;
  stderr: () => string;
  signIn: Promise<[string, string]>;
} {
  // What `npm start` runs, on a free port.
  const child = spawn(process.execPath, ['bin/opsledger.js', 'serve', '--demo', '--port', '0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const rl = createInterface({ input: child.stdout! });
  const url = new Promise<string>((resolve, reject) => {
    rl.on('line', (line) => {
      const m = /serving on (http:\/\/\S+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  const signIn = new Promise<[string, string]>((resolve) => {
    rl.on('line', (line) => {
      const m = /Demo sign-in: (\S+) \/ (\S+)/.exec(line);
      if (m) resolve([m[1]!, m[2]!]);
    });
  });
  return { child, url, stderr: () => err, signIn };
}

it(
  'npm start on the embedded database: /readyz, demo sign-in, list, start and finish a run; a second process on the same data dir fails fast',
  async () => {
    const first = serve();
    const url = await first.url;
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', database: 'pglite' });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    // A new user's first minutes: sign in with the printed credentials, list runs, start one,
    // and watch it complete.
    const [email, password] = await first.signIn;
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const tenants = (await (await fetch(`${url}/api/v1/tenants`, { headers: { cookie } })).json()) as {
      data: { id: string; name: string; role: string }[];
    };
    const list = tenants.data;
    expect(list.length).toBe(3);
    const tenant = list.find((t) => t.role === 'owner')!;
    const history = (await (
      await fetch(`${url}/api/v1/tenants/${tenant.id}/operations?limit=20`, { headers: { cookie } })
    ).json()) as {
      data: { status: string }[];
    };
    expect(history.data.length).toBe(20);
    const started = await fetch(`${url}/api/v1/tenants/${tenant.id}/operations`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'inventory.sync', inputs: {} }),
    });
    expect(started.status).toBe(202);
    const { run } = (await started.json()) as { run: { id: string } };
    type RunBody = { status: string; outcome: string; summaryCounts: Record<string, number> };
    let final: RunBody | null = null;
    for (let i = 0; i < 300 && final?.status !== 'completed'; i++) {
      final = (await (
        await fetch(`${url}/api/v1/tenants/${tenant.id}/operations/${run.id}`, { headers: { cookie } })
      ).json()) as RunBody;
      if (final?.status !== 'completed') await new Promise((r) => setTimeout(r, 100));
    }
    expect(final).toMatchObject({ status: 'completed', outcome: 'succeeded' });
    expect(Object.values(final!.summaryCounts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);

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
  },
  timeBudget(120_000),
);
