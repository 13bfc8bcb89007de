// `opsledger account password` and `account logout-everywhere` against a real server: passwords
// come from the environment, a file or standard input, never from the command line.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness } from './helpers/api-app.ts';
import { testTaskType } from './helpers/test-types.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/opsledger.js');

let h: ApiHarness;
let url: string;

type Result = { code: number | null; stdout: string; stderr: string };

/** Runs the command line as a user would, with what it reads on standard input. */
function cli(args: string[], env: Record<string, string>, stdin = ''): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`opsledger ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

const me = (headers: Record<string, string>) => h.app.inject({ url: '/api/v1/me', headers });

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType({ started: [], aborted: [] })], worker: false });
  url = await h.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await h?.stop();
});

describe('opsledger account', () => {
  it('password: from the environment; ends other sessions and tokens; a wrong one is one line and exit 1', async () => {
    const user = await h.user('cli-changer');
    const elsewhere = await h.session(user);
    const next = 'a brand new passphrase 42';
    const env = { OPSLEDGER_URL: url, OPSLEDGER_EMAIL: user.email };
    const wrong = await cli(['account', 'password'], {
      ...env,
      OPSLEDGER_PASSWORD: 'not-the-password',
      OPSLEDGER_NEW_PASSWORD: next,
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(/401/);
    expect(wrong.stderr).not.toContain(next);
    expect((await me(elsewhere)).statusCode).toBe(200);

    const weak = await cli(['account', 'password'], {
      ...env,
      OPSLEDGER_PASSWORD: user.password,
      OPSLEDGER_NEW_PASSWORD: 'password1234',
    });
    expect(weak.code).toBe(1);
    expect(weak.stderr).toMatch(/400 .*common/);

    const ok = await cli(['account', 'password'], {
      ...env,
      OPSLEDGER_PASSWORD: user.password,
      OPSLEDGER_NEW_PASSWORD: next,
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/password changed/);
    expect((await me(elsewhere)).statusCode).toBe(401);
    expect((await me(h.bearer(user))).statusCode).toBe(401);
    const login = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: next },
    });
    expect(login.statusCode).toBe(200);
    expect(ok.stdout + ok.stderr).not.toContain(next);
  });

  it('password: from two lines of --password-stdin, or from files', async () => {
    const user = await h.user('cli-stdin');
    const env = { OPSLEDGER_URL: url, OPSLEDGER_EMAIL: user.email };
    const second = 'second passphrase for stdin';
    const viaStdin = await cli(
      ['account', 'password', '--password-stdin'],
      env,
      `${user.password}\n${second}\n`,
    );
    expect(viaStdin.code, viaStdin.stderr).toBe(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-cli-account-'));
    const current = path.join(dir, 'current');
    const fresh = path.join(dir, 'new');
    fs.writeFileSync(current, `${second}\n`, { mode: 0o600 });
    fs.writeFileSync(fresh, 'third passphrase from a file\n', { mode: 0o600 });
    const viaFiles = await cli(
      ['account', 'password', '--password-file', current, '--new-password-file', fresh],
      env,
    );
    expect(viaFiles.code, viaFiles.stderr).toBe(0);
    const login = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: 'third passphrase from a file' },
    });
    expect(login.statusCode).toBe(200);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('logout-everywhere: ends every session and token of the user', async () => {
    const user = await h.user('cli-everywhere');
    const laptop = await h.session(user);
    const res = await cli(
      ['account', 'logout-everywhere', '--password-stdin', '--url', url, '--email', user.email],
      {},
      `${user.password}\n`,
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/signed out everywhere/);
    expect((await me(laptop)).statusCode).toBe(401);
    expect((await me(h.bearer(user))).statusCode).toBe(401);
  });

  it('refuses a password on the command line, a missing one, and plain http to another host', async () => {
    const asArgument = await cli(['account', 'logout-everywhere', '--password', 'secret-on-argv'], {
      OPSLEDGER_URL: url,
      OPSLEDGER_EMAIL: 'x@example.test',
    });
    expect(asArgument.code).toBe(2);
    expect(asArgument.stderr).toMatch(/unknown option '--password'/i);
    const missing = await cli(['account', 'logout-everywhere'], {
      OPSLEDGER_URL: url,
      OPSLEDGER_EMAIL: 'x@example.test',
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no password: set OPSLEDGER_PASSWORD/);
    const remote = await cli(['account', 'logout-everywhere'], {
      OPSLEDGER_URL: 'http://ops.example.test:3000',
      OPSLEDGER_EMAIL: 'x@example.test',
      OPSLEDGER_PASSWORD: 'whatever password',
    });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toMatch(/refusing to send a password over plain http to ops\.example\.test/);
    expect(remote.stderr).not.toContain('whatever password');
  });
});
