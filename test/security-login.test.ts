import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpApp } from '../src/http/app.ts';
import { createHttpServer } from '../src/main/http.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import { testTaskType } from './helpers/test-types.ts';

let h: ApiHarness;
let behind: ApiHarness;
let user: TestUser;

beforeAll(async () => {
  const definitions = [testTaskType({ started: [], aborted: [] })];
  h = await startApiHarness({
    definitions,
    worker: false,
    http: { limits: { loginPerMinute: 1000, loginFailuresPerEmail: 10 } },
  });
  user = await h.user('guessed');
  behind = await startApiHarness({
    definitions,
    worker: false,
    env: { TRUST_PROXY: '1' },
    http: { limits: { loginPerMinute: 2, loginFailuresPerEmail: 1000 } },
  });
});
afterAll(async () => {
  await h?.stop();
  await behind?.stop();
});

it('counts each sign-in attempt before the password is checked: 30 concurrent guesses, 10 checked', async () => {
  const results = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: `wrong-guess-${i}` },
        remoteAddress: '198.51.100.7',
      }),
    ),
  );
  const codes = results.map((r) => r.statusCode);
  // 401 means the guess reached the password hash; the rest were refused before it.
  expect(codes.filter((c) => c === 401)).toHaveLength(10);
  expect(codes.filter((c) => c === 429)).toHaveLength(20);
  // The owner, from their own address, is not locked out by the guesser.
  const owner = await h.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: user.email, password: user.password },
    remoteAddress: '192.0.2.10',
  });
  expect(owner.statusCode).toBe(200);
});

it('TRUST_PROXY as a hop count takes the address the proxy saw, not the one the client wrote', async () => {
  const login = (forwardedFor: string) =>
    behind.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'x-forwarded-for': forwardedFor },
      payload: { email: 'nobody@example.test', password: 'nope-nope' },
      remoteAddress: '127.0.0.1',
    });
  // An appending proxy puts the real client last; the client controls everything before it.
  const codes: number[] = [];
  for (const forged of ['10.9.9.1', '10.9.9.2', '10.9.9.3', '10.9.9.4']) {
    codes.push((await login(`${forged}, 203.0.113.50`)).statusCode);
  }
  expect(codes).toEqual([401, 401, 429, 429]);
  expect((await login('10.9.9.1, 203.0.113.51')).statusCode).toBe(401);
});

it('one count of sign-in guesses for every server of the installation: two apps on one database', async () => {
  // A second HTTP app on the same database, as a second process behind a load balancer is.
  const second = await createHttpServer(h.ledger, {
    suite: false,
    limits: { loginPerMinute: 1000, loginFailuresPerEmail: 10 },
  });
  try {
    const guess = (app: HttpApp, i: number) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: `other-guess-${i}` },
        remoteAddress: '198.51.100.99',
      });
    const codes: number[] = [];
    for (let i = 0; i < 16; i++) codes.push((await guess(i % 2 ? second : h.app, i)).statusCode);
    expect(codes.filter((c) => c === 401)).toHaveLength(10);
    expect(codes.slice(10)).toEqual([429, 429, 429, 429, 429, 429]);
    // What is stored names neither the email nor the address.
    const stored = await sql<{ key: string }>`select key from auth_attempts`.execute(h.ledger.database.db);
    expect(stored.rows.length).toBeGreaterThan(0);
    for (const { key } of stored.rows) {
      expect(key).toMatch(/^[0-9a-f]{64}$/);
      expect(key).not.toContain(user.email);
    }
  } finally {
    await second.close();
  }
});

if (!process.env.DATABASE_URL)
  console.log(
    "[security-login] the two-process sign-in limit runs in the PostgreSQL pass (the embedded database is one process's)",
  );

describe.runIf(process.env.DATABASE_URL)('across processes (PostgreSQL)', () => {
  const procs: ChildProcess[] = [];
  afterAll(() => {
    for (const p of procs) p.kill('SIGKILL');
  });

  const serve = (env: Record<string, string>) =>
    new Promise<string>((resolve, reject) => {
      const proc = spawn(process.execPath, ['test/fixtures/fleet-process.ts', 'serve'], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      procs.push(proc);
      proc.once('exit', (code) => reject(new Error(`serve exited early (${code})`)));
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const [word, url] = line.split(' ');
        if (word === 'ready') resolve(url!);
      });
    });

  it('two `serve` processes share one limit: 6 guesses alternating between them, 4 checked', async () => {
    const env = {
      DATABASE_URL: h.ledger.testDb.url!,
      SECRET_KEY: TEST_SECRET_KEY,
      LOG_LEVEL: 'silent',
      FLEET_LOGIN_FAILURES: '4',
    };
    const [a, b] = await Promise.all([serve(env), serve(env)]);
    const email = `fleet-guess-${process.pid}@example.test`;
    await h.ledger.access.createUser({ email, password: 'the-right-password-1', displayName: 'fleet' });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${i % 2 ? b : a}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: `wrong-${i}` }),
      });
      codes.push(res.status);
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(codes).toEqual([401, 401, 401, 401, 429, 429]);
  });
});
