import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { testTaskType } from './helpers/test-types.ts';

let h: ApiHarness;
let tenant: string;
let owner: TestUser;
let operator: TestUser;
let viewer: TestUser;
const SECRET = 'Zq8~graph-app-secret-7f3a9c1e';

beforeAll(async () => {
  h = await startApiHarness({
    definitions: [testTaskType({ started: [], aborted: [] })],
    worker: false,
    withRestore: true,
  });
  tenant = await h.ledger.createTenant('Connected');
  owner = await h.user('owner', { [tenant]: 'owner' });
  operator = await h.user('operator', { [tenant]: 'operator' });
  viewer = await h.user('viewer', { [tenant]: 'viewer' });
});
afterAll(async () => {
  await h?.stop();
});

it('an owner sets the Graph connection; everyone reads it without the secret, which is stored only encrypted', async () => {
  const url = `/api/v1/tenants/${tenant}/graph-connection`;
  expect((await h.app.inject({ url, headers: h.bearer(viewer) })).statusCode).toBe(404);
  const directoryId = randomUUID();
  const body = { directoryId, clientId: 'opsledger-app', clientSecret: SECRET };
  const denied = await h.app.inject({ method: 'PUT', url, headers: h.bearer(operator), payload: body });
  expect(denied.statusCode).toBe(403);
  // An owner sets it signed in; the owner's API token may not (credentials are never a token's to set).
  const byToken = await h.app.inject({ method: 'PUT', url, headers: h.bearer(owner), payload: body });
  expect(byToken.statusCode).toBe(403);
  const ownerSession = await h.session(owner);
  const bad = await h.app.inject({
    method: 'PUT',
    url,
    headers: ownerSession,
    payload: { ...body, graphUrl: 'http://169.254.169.254' },
  });
  expect(bad.statusCode).toBe(400);
  const set = await h.app.inject({ method: 'PUT', url, headers: ownerSession, payload: body });
  expect(set.statusCode).toBe(200);
  expect(set.json()).toMatchObject({
    tenantId: tenant,
    directoryId,
    clientId: 'opsledger-app',
    hasSecret: true,
    graphUrl: null,
  });
  const read = await h.app.inject({ url, headers: h.bearer(viewer) });
  expect(read.statusCode).toBe(200);
  expect(read.json()).toEqual(set.json());
  for (const res of [set, read]) expect(res.body).not.toContain(SECRET);
  const rows = await sql<{ t: string }>`select t::text as t from tenant_graph_connections t`.execute(
    h.ledger.database.db,
  );
  expect(rows.rows).toHaveLength(1);
  expect(rows.rows[0]!.t).not.toContain(SECRET);
  expect(rows.rows[0]!.t).toMatch(/v1:/);
  const logs = JSON.stringify(h.ledger.logs);
  expect(logs).not.toContain(SECRET);
});
