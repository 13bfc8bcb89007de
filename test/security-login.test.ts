import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
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
