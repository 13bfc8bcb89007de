import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { isProblem } from './helpers/api-fuzz.ts';
import { testTaskType } from './helpers/test-types.ts';

let h: ApiHarness;
let tenant: string;
let user: TestUser;

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType({ started: [], aborted: [] })], worker: false });
  tenant = await h.ledger.createTenant('Inputs');
  user = await h.user('inputs', { [tenant]: 'owner' });
});
afterAll(async () => {
  await h?.stop();
});

const list = (query: string) =>
  h.app.inject({ url: `/api/v1/tenants/${tenant}/operations?${query}`, headers: h.bearer(user) });

it.each([
  ['a 36-character q that is not a uuid', `q=${'0'.repeat(36)}`],
  ['a 36-character q of dashes', `q=${'-'.repeat(36)}`],
  ['a 36-character q with misplaced dashes', 'q=0123456789abcdef0123456789abcdef----'],
  ['since in year 0', 'since=0000-01-01T00:00:00Z'],
  ['until past year 9999 once its offset applies', 'until=9999-12-31T23:59:59-23:59'],
  ['since before 1970', 'since=1969-12-31T23:59:59Z'],
])('refuses %s with 400 problem JSON', async (_name, query) => {
  const res = await list(query);
  expect(res.statusCode).toBe(400);
  expect(isProblem(res)).toBe(true);
});

it('still finds a run by its full id, and accepts the widest valid range', async () => {
  const { run } = await h.ledger.service.start({
    tenantId: tenant,
    type: 'test.task',
    inputs: { key: 'findable' },
    initiator: { kind: 'system' },
  });
  const byId = await list(`q=${run.id}`);
  expect(byId.statusCode).toBe(200);
  expect(byId.json().data.map((r: { id: string }) => r.id)).toEqual([run.id]);
  const wide = await list('since=1970-01-01T00:00:00Z&until=9999-12-31T23:59:59Z');
  expect(wide.statusCode).toBe(200);
});

const start = (payload: string) =>
  h.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenant}/operations`,
    headers: { ...h.bearer(user), 'content-type': 'application/json' },
    payload,
  });

it('refuses inputs nested 3,500 deep (a 10 KB body) with 400', async () => {
  const deep = `${'{"a":'.repeat(3500)}1${'}'.repeat(3500)}`;
  const res = await start(`{"type":"test.task","inputs":${deep}}`);
  expect(res.statusCode).toBe(400);
  expect(isProblem(res)).toBe(true);
  const arrays = await start(`{"type":"test.task","inputs":{"k":${'['.repeat(3500)}${']'.repeat(3500)}}}`);
  expect(arrays.statusCode).toBe(400);
});

it('refuses a lone surrogate in any jsonb-bound input with 400, in values and in keys', async () => {
  for (const body of [
    '{"type":"test.task","inputs":{"key":"x\\ud800"}}',
    '{"type":"test.task","inputs":{"\\udc00":"x"}}',
    '{"type":"test.task","inputs":{"key":["ok","\\ud800\\ud800"]}}',
  ]) {
    const res = await start(body);
    expect(res.statusCode).toBe(400);
    expect(isProblem(res)).toBe(true);
  }
  const graph = await h.app.inject({
    method: 'PUT',
    url: `/api/v1/tenants/${tenant}/graph-connection`,
    headers: { ...(await h.session(user)), 'content-type': 'application/json' },
    payload: '{"directoryId":"d\\ud800","clientId":"c","clientSecret":"s-123456789"}',
  });
  expect(graph.statusCode).toBeLessThan(500);
  // A well-formed pair (an emoji) is text like any other.
  const ok = await start('{"type":"test.task","inputs":{"key":"\\ud83d\\ude00"}}');
  expect(ok.statusCode).toBe(202);
});
