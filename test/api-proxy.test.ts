import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness } from './helpers/api-app.ts';
import { testTaskType } from './helpers/test-types.ts';

let behind: ApiHarness;
let direct: ApiHarness;

const limits = { loginPerMinute: 2, loginFailuresPerEmail: 1000, startsPerMinute: 1000 };
const login = (h: ApiHarness, forwardedFor: string) =>
  h.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: { 'x-forwarded-for': forwardedFor },
    payload: { email: 'nobody@example.test', password: 'nope-nope' },
  });

beforeAll(async () => {
  const definitions = [testTaskType({ started: [], aborted: [] })];
  behind = await startApiHarness({
    definitions,
    worker: false,
    env: { TRUST_PROXY: 'true' },
    http: { limits },
  });
  direct = await startApiHarness({ definitions, worker: false, http: { limits } });
});
afterAll(async () => {
  await behind?.stop();
  await direct?.stop();
});

it('TRUST_PROXY=true limits sign-ins per forwarded client; without it X-Forwarded-For is ignored', async () => {
  const codes = async (h: ApiHarness, ips: string[]) => {
    const out: number[] = [];
    for (const ip of ips) out.push((await login(h, ip)).statusCode);
    return out;
  };
  // Behind a proxy every client has its own budget of two sign-ins a minute.
  expect(await codes(behind, ['203.0.113.1', '203.0.113.1', '203.0.113.1', '203.0.113.2'])).toEqual([
    401, 401, 429, 401,
  ]);
  // Not behind a proxy, the header is the caller's to forge: it must not buy more attempts.
  expect(await codes(direct, ['203.0.113.1', '203.0.113.2', '203.0.113.3'])).toEqual([401, 401, 429]);
});
