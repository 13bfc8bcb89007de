import { randomUUID } from 'node:crypto';
import SwaggerParser from '@apidevtools/swagger-parser';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
let h: ApiHarness;
let tenantA: string;
let tenantB: string;
let alice: TestUser; // owner of A only
let bob: TestUser; // owner of B only
let runA: string;
let runB: string;
let bobTokenId: string;
let restoreB: string;
let backupB: string;
let scheduleB: string;
let targetB: string;
let invitationB: string;
let doc: {
  paths: Record<string, Record<string, { security?: unknown[]; requestBody?: unknown }>>;
};

type Op = { method: string; path: string; isPublic: boolean };

function operations(): Op[] {
  const ops: Op[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      ops.push({
        method: method.toUpperCase(),
        path,
        isPublic: Array.isArray(op.security) && op.security.length === 0,
      });
    }
  }
  return ops;
}

/** A body that passes validation, so that a 404 comes from the isolation gate, not from the schema. */
function bodyFor(op: Op): unknown {
  if (op.method === 'GET' || op.method === 'DELETE') return undefined;
  if (op.path.endsWith('/operations')) return { type: 'test.task', inputs: { key: 'isolation' } };
  if (op.path.endsWith('/bulk-cancel') || op.path.endsWith('/bulk-retry')) return { runIds: [runB] };
  if (op.path.endsWith('/members')) return { email: bob.email, role: 'viewer' };
  if (op.path.endsWith('/members/{userId}')) return { role: 'viewer' };
  if (op.path.endsWith('/restore-runs')) return { backupId: randomUUID() };
  if (op.path.endsWith('/schedules'))
    return { name: `isolation ${randomUUID()}`, type: 'test.task', inputs: { key: 'i' }, cron: '0 2 * * *' };
  if (op.path.endsWith('/graph-connection'))
    return { directoryId: randomUUID(), clientId: 'app', clientSecret: 's3cret' };
  if (op.path.endsWith('/me/tokens')) return { name: 'isolation', password: 'not-the-password' };
  if (op.path.endsWith('/me/password')) return { currentPassword: 'not-the-password', newPassword: 'x' };
  if (op.path.endsWith('/auth/logout-everywhere')) return { password: 'not-the-password' };
  if (op.path.endsWith('/alert-targets'))
    return { name: `isolation ${randomUUID()}`, url: 'https://hooks.example.com/i' };
  if (op.path.endsWith('/alert-targets/{targetId}')) return { enabled: true };
  if (op.path.endsWith('/auth/login')) return { email: alice.email, password: 'wrong-password' };
  return undefined;
}

function fill(path: string, ids: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = ids[name];
    if (!v) throw new Error(`no id for {${name}} in ${path}`);
    return v;
  });
}

async function call(op: Op, ids: Record<string, string>, headers: Record<string, string>) {
  const payload = bodyFor(op);
  return h.app.inject({
    method: op.method as 'GET',
    url: fill(op.path, ids),
    headers,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType(log)], worker: false, withRestore: true });
  tenantA = await h.ledger.createTenant('A');
  tenantB = await h.ledger.createTenant('B');
  alice = await h.user('alice', { [tenantA]: 'owner' });
  bob = await h.user('bob', { [tenantB]: 'owner' });
  const start = async (user: TestUser, tenant: string) => {
    const res = await h.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/operations`,
      headers: h.bearer(user),
      payload: { type: 'test.task', inputs: { key: `seed-${tenant}` } },
    });
    expect(res.statusCode).toBe(202);
    return res.json().run.id as string;
  };
  runA = await start(alice, tenantA);
  runB = await start(bob, tenantB);
  const tokens = await h.app.inject({ url: '/api/v1/me/tokens', headers: h.bearer(bob) });
  bobTokenId = tokens.json().data[0].id;
  // A restore record of B, written as the restore domain would (its own service needs a backup).
  restoreB = randomUUID();
  await sql`insert into restore_runs (id, tenant_id, backup_set_id, initiator_kind)
            values (${restoreB}, ${tenantB}, ${randomUUID()}, 'system')`.execute(h.ledger.database.db);
  // A backup set of B (also B's drift baseline), written as the backup type would.
  backupB = randomUUID();
  await sql`insert into backup_sets (id, tenant_id, name, scope) values (${backupB}, ${tenantB}, 'B set', '[]')`.execute(
    h.ledger.database.db,
  );
  const ownSet = await h.app.inject({
    url: `/api/v1/tenants/${tenantB}/backup-sets/${backupB}/items`,
    headers: h.bearer(bob),
  });
  expect(ownSet.statusCode).toBe(200);
  const own = await h.app.inject({
    url: `/api/v1/tenants/${tenantB}/restore-runs/${restoreB}`,
    headers: h.bearer(bob),
  });
  expect(own.statusCode).toBe(200);
  const schedule = await h.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenantB}/schedules`,
    headers: h.bearer(bob),
    payload: { name: 'nightly', type: 'test.task', inputs: { key: 'b' }, cron: '0 2 * * *' },
  });
  expect(schedule.statusCode).toBe(201);
  scheduleB = schedule.json().id;
  const target = await h.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenantB}/alert-targets`,
    headers: h.bearer(bob),
    payload: { name: 'b hooks', url: 'https://hooks.example.com/b' },
  });
  expect(target.statusCode).toBe(201);
  targetB = target.json().target.id;
  // A pending invitation of B, sent by B's owner (an owner does this signed in, never by token).
  const invited = await h.app.inject({
    method: 'POST',
    url: `/api/v1/tenants/${tenantB}/members`,
    headers: await h.session(bob),
    payload: { email: 'someone-else@example.test', role: 'owner' },
  });
  expect(invited.statusCode).toBe(202);
  invitationB = invited.json().id;
  doc = (await h.app.inject({ url: '/api/v1/openapi.json' })).json();
});
afterAll(async () => {
  await h?.stop();
});

describe('the OpenAPI document', () => {
  it('passes an OpenAPI validator', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('lists every route the server registers, and nothing else', () => {
    const registered = h.app.opsledger.registeredRoutes
      .map((r: { method: string; url: string }) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`)
      .sort();
    const documented = operations()
      .map((o) => `${o.method} ${o.path}`)
      .sort();
    expect(documented).toEqual(registered);
    // The contract's routes are all there (restore routes only when the restore domain is wired).
    for (const route of [
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
      'GET /api/v1/openapi.json',
      'POST /api/v1/auth/login',
      'POST /api/v1/auth/logout',
      'GET /api/v1/me',
      'GET /api/v1/tenants',
      'GET /api/v1/operation-types',
      'GET /api/v1/tenants/{tenantId}/operations',
      'GET /api/v1/tenants/{tenantId}/operations/{runId}',
      'POST /api/v1/tenants/{tenantId}/operations',
      'POST /api/v1/tenants/{tenantId}/operations/{runId}/cancel',
      'POST /api/v1/tenants/{tenantId}/operations/{runId}/retry',
      'GET /api/v1/tenants/{tenantId}/operations/stream',
      'GET /api/v1/tenants/{tenantId}/operations/stats',
      'GET /api/v1/tenants/{tenantId}/members',
      'POST /api/v1/tenants/{tenantId}/members',
      'PATCH /api/v1/tenants/{tenantId}/members/{userId}',
      'DELETE /api/v1/tenants/{tenantId}/members/{userId}',
      'GET /api/v1/me/tokens',
      'POST /api/v1/me/tokens',
      'DELETE /api/v1/me/tokens/{id}',
      'POST /api/v1/me/password',
      'POST /api/v1/auth/logout-everywhere',
      'GET /api/v1/tenants/{tenantId}/invitations',
      'DELETE /api/v1/tenants/{tenantId}/invitations/{invitationId}',
      'GET /api/v1/tenants/{tenantId}/restore-runs',
      'POST /api/v1/tenants/{tenantId}/restore-runs',
      'GET /api/v1/tenants/{tenantId}/restore-runs/{restoreRunId}',
      'GET /api/v1/tenants/{tenantId}/inventory',
      'GET /api/v1/tenants/{tenantId}/inventory/items',
      'GET /api/v1/tenants/{tenantId}/backup-sets',
      'GET /api/v1/tenants/{tenantId}/backup-sets/{backupSetId}/items',
      'GET /api/v1/tenants/{tenantId}/drift/baselines',
      'GET /api/v1/tenants/{tenantId}/drift/baselines/{baselineId}/findings',
      'GET /api/v1/tenants/{tenantId}/schedules',
      'POST /api/v1/tenants/{tenantId}/schedules',
      'GET /api/v1/tenants/{tenantId}/schedules/{scheduleId}',
      'POST /api/v1/tenants/{tenantId}/schedules/{scheduleId}/pause',
      'POST /api/v1/tenants/{tenantId}/schedules/{scheduleId}/resume',
      'DELETE /api/v1/tenants/{tenantId}/schedules/{scheduleId}',
    ]) {
      expect(documented).toContain(route);
    }
  });
});

describe('isolation walk over every documented route', () => {
  it('without credentials every non-public route answers 401 problem JSON', async () => {
    const ids = {
      tenantId: tenantA,
      runId: runA,
      userId: alice.id,
      id: randomUUID(),
      restoreRunId: randomUUID(),
      backupSetId: randomUUID(),
      baselineId: randomUUID(),
      scheduleId: randomUUID(),
      targetId: randomUUID(),
      invitationId: randomUUID(),
    };
    const checked: string[] = [];
    for (const op of operations().filter((o) => !o.isPublic)) {
      for (const headers of [
        {},
        { authorization: 'Bearer olt_not-a-token' },
        { cookie: 'opsledger_session=forged' },
      ] as Record<string, string>[]) {
        const res = await call(op, ids, headers);
        expect(res.statusCode, `${op.method} ${op.path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
      checked.push(`${op.method} ${op.path}`);
    }
    expect(checked.length).toBeGreaterThanOrEqual(21);
    // The public ones are exactly these.
    expect(
      operations()
        .filter((o) => o.isPublic)
        .map((o) => `${o.method} ${o.path}`)
        .sort(),
    ).toEqual([
      'GET /api/v1/openapi.json',
      'GET /healthz',
      'GET /metrics',
      'GET /readyz',
      'POST /api/v1/auth/login',
    ]);
  });

  it('a member of A on any id of B gets the very 404 of an unknown id; never 200, never 403', async () => {
    const unknown = () => ({
      tenantId: randomUUID(),
      runId: randomUUID(),
      userId: randomUUID(),
      id: randomUUID(),
      restoreRunId: randomUUID(),
      backupSetId: randomUUID(),
      baselineId: randomUUID(),
      scheduleId: randomUUID(),
      targetId: randomUUID(),
      invitationId: randomUUID(),
    });
    const reference = await h.app.inject({
      url: `/api/v1/tenants/${randomUUID()}/operations/${randomUUID()}`,
      headers: h.bearer(alice),
    });
    expect(reference.statusCode).toBe(404);
    const notFoundBody = reference.body;
    // B's ids under B's tenant, B's ids under A's own tenant, and ids that never existed.
    const cases: [string, Record<string, string>][] = [
      [
        'B ids in B',
        {
          tenantId: tenantB,
          runId: runB,
          userId: bob.id,
          id: bobTokenId,
          restoreRunId: restoreB,
          backupSetId: backupB,
          baselineId: backupB,
          scheduleId: scheduleB,
          targetId: targetB,
          invitationId: invitationB,
        },
      ],
      [
        'B ids in A',
        {
          tenantId: tenantA,
          runId: runB,
          userId: bob.id,
          id: bobTokenId,
          restoreRunId: restoreB,
          backupSetId: backupB,
          baselineId: backupB,
          scheduleId: scheduleB,
          targetId: targetB,
          invitationId: invitationB,
        },
      ],
      ['unknown ids', unknown()],
    ];
    // Walked with Alice's token and with her signed-in session: owners manage members and
    // invitations signed in only (a token is refused that in its own tenant, whatever the ids).
    const credentials: [string, Record<string, string>][] = [
      ['token', h.bearer(alice)],
      ['session', await h.session(alice)],
    ];
    const managed = (op: Op) =>
      /\/(members|invitations|graph-connection)(\/|$)/.test(op.path) && op.method !== 'GET';
    let walked = 0;
    for (const [via, headers] of credentials) {
      for (const op of operations().filter((o) => !o.isPublic)) {
        const uses = (name: string) => op.path.includes(`{${name}}`);
        if (!uses('tenantId') && !uses('id')) continue;
        for (const [label, ids] of cases) {
          // In A's own tenant only ids of B in the path make it foreign.
          const foreignIds = [
            'runId',
            'userId',
            'restoreRunId',
            'backupSetId',
            'baselineId',
            'scheduleId',
            'invitationId',
            'targetId',
          ];
          if (label === 'B ids in A' && !foreignIds.some(uses)) continue;
          if (label === 'B ids in A' && via === 'token' && managed(op)) continue;
          const res = await call(op, ids, headers);
          const what = `${op.method} ${op.path} (${label}, ${via})`;
          expect(res.statusCode, what).toBe(404);
          expect(res.body, what).toBe(notFoundBody);
          expect(res.headers['content-type'], what).toMatch(/^application\/problem\+json/);
          walked++;
        }
      }
    }
    expect(walked).toBeGreaterThanOrEqual(50);
    // Nothing of B moved: its run is still queued, its owner still owns it, Bob's token still works.
    expect((await h.ledger.service.get(tenantB, runB)).status).toBe('queued');
    expect(await h.ledger.schedules.get(tenantB, scheduleB)).toMatchObject({
      name: 'nightly',
      status: 'active',
    });
    const bobSession = await h.session(bob);
    const members = await h.app.inject({ url: `/api/v1/tenants/${tenantB}/members`, headers: bobSession });
    expect(members.json().data).toEqual([expect.objectContaining({ userId: bob.id, role: 'owner' })]);
    const invitations = await h.app.inject({
      url: `/api/v1/tenants/${tenantB}/invitations`,
      headers: bobSession,
    });
    expect(invitations.json().data.map((i: { id: string }) => i.id)).toEqual([invitationB]);
  });

  it("lists of A never show B's runs", async () => {
    const list = await h.app.inject({
      url: `/api/v1/tenants/${tenantA}/operations`,
      headers: h.bearer(alice),
    });
    expect(list.statusCode).toBe(200);
    const ids = list.json().data.map((r: { id: string }) => r.id);
    expect(ids).toContain(runA);
    expect(ids).not.toContain(runB);
    const byQ = await h.app.inject({
      url: `/api/v1/tenants/${tenantA}/operations?q=${runB}`,
      headers: h.bearer(alice),
    });
    expect(byQ.json().data).toEqual([]);
    const tenants = await h.app.inject({ url: '/api/v1/tenants', headers: h.bearer(alice) });
    expect(tenants.json().data).toEqual([{ id: tenantA, name: 'A', role: 'owner' }]);
  });

  it("a cursor issued for tenant A is refused for another tenant's list", async () => {
    for (let i = 0; i < 3; i++) {
      await h.app.inject({
        method: 'POST',
        url: `/api/v1/tenants/${tenantA}/operations`,
        headers: h.bearer(alice),
        payload: { type: 'test.task', inputs: { key: `page-${i}` } },
      });
    }
    const page = await h.app.inject({
      url: `/api/v1/tenants/${tenantA}/operations?limit=1`,
      headers: h.bearer(alice),
    });
    const cursor = page.json().nextCursor as string;
    expect(cursor).toBeTruthy();
    const next = await h.app.inject({
      url: `/api/v1/tenants/${tenantA}/operations?limit=1&cursor=${encodeURIComponent(cursor)}`,
      headers: h.bearer(alice),
    });
    expect(next.statusCode).toBe(200);
    const carol = await h.user('carol', { [tenantB]: 'viewer' });
    const replay = await h.app.inject({
      url: `/api/v1/tenants/${tenantB}/operations?limit=1&cursor=${encodeURIComponent(cursor)}`,
      headers: h.bearer(carol),
    });
    expect(replay.statusCode).toBe(400);
    const otherFilter = await h.app.inject({
      url: `/api/v1/tenants/${tenantA}/operations?limit=1&status=queued&cursor=${encodeURIComponent(cursor)}`,
      headers: h.bearer(alice),
    });
    expect(otherFilter.statusCode).toBe(400);
  });
});
