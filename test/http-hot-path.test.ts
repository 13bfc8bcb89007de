// The messages a read request sends, counted through the query log on both databases: the
// credential and the caller's role in the tenant come from one statement, the read itself is one
// message holding the whole tenant transaction (scope, select, scope check), and the token's last
// use is written after the response, in a batch, at most once a minute.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpApp } from '../src/http/app.ts';
import { createHttpServer } from '../src/main/http.ts';
import { createTestDatabase } from './helpers/db.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
const captured: string[] = [];
let ledger: TestLedger;
let app: HttpApp;
let tenant: string;
let other: string;
let userId: string;
let token: string;
let runId: string;

beforeAll(async () => {
  const testDb = await createTestDatabase({ onQuery: (text) => captured.push(text) });
  ledger = await startTestLedger({ definitions: [testTaskType(log)], testDb, worker: false });
  app = await createHttpServer(ledger, { suite: false, ui: false });
  await app.ready();
  tenant = await ledger.createTenant('Hot');
  other = await ledger.createTenant('Other');
  const user = await app.opsledger.access.createUser({
    email: `hot-${process.pid}@example.test`,
    password: 'hot-path-secret-1234',
  });
  userId = user.id;
  await app.opsledger.access.addMember(tenant, user.email, 'viewer');
  token = (await app.opsledger.credentials.createToken(user.id, 'hot')).secret;
  for (let i = 0; i < 3; i++) {
    const { run } = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: `k${i}` },
      initiator: { kind: 'system' },
    });
    runId = run.id;
  }
}, 120_000);

afterAll(async () => {
  await app?.close();
  await ledger?.stop();
});

/** The statements one request sends, from its start to its response (earlier token uses flushed first). */
async function statementsOf(url: string): Promise<{ status: number; body: string; statements: string[] }> {
  await app.opsledger.credentials.flushTokenUses();
  captured.length = 0;
  const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.body, statements: [...captured] };
}

const scopes = (statements: string[]) =>
  statements.filter((s) => s.includes("set_config('opsledger.tenant_id'")).length;

describe('a read request', () => {
  it('lists runs with two messages: credential and role in one, the tenant transaction in the other', async () => {
    const { status, body, statements } = await statementsOf(`/api/v1/tenants/${tenant}/operations?limit=2`);
    expect(status).toBe(200);
    expect(JSON.parse(body).data).toHaveLength(2);
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatch(/from "api_tokens"/);
    expect(scopes(statements)).toBe(1);
    // The scope, the page and the closing check of the scope travel together.
    expect(statements[1]).toMatch(
      /set_config\('opsledger.tenant_id'[\s\S]*from "operation_runs"[\s\S]*tenant scope left/,
    );
    expect(statements.some((s) => /^\s*update/i.test(s))).toBe(false);
  });

  it('shows one run with three messages: credential and role, the run, the runs that retried it', async () => {
    const { status, statements } = await statementsOf(`/api/v1/tenants/${tenant}/operations/${runId}`);
    expect(status).toBe(200);
    expect(statements).toHaveLength(3);
    expect(scopes(statements)).toBe(2);
    expect(statements[2]).toMatch(/retry_of_run_id/);
  });

  it('presents the times of a run as the service does from Dates, in the page and in the detail', async () => {
    // A finished run: created, started and completed times and a duration.
    await ledger.service.markRunning(
      tenant,
      runId,
      (await ledger.service.getRow(tenant, runId)).job_id!,
      'test.task',
    );
    const done = await ledger.service.complete(
      tenant,
      runId,
      (await ledger.service.getRow(tenant, runId)).job_id,
      'test.task',
      { outcome: 'succeeded' },
    );
    expect(done).not.toBeNull();
    const expected = ledger.service.present(done!);
    const times = (r: Record<string, unknown>) => ({
      createdAt: r.createdAt,
      startedAt: r.startedAt,
      completedAt: r.completedAt,
      durationMs: r.durationMs,
    });
    const detail = await statementsOf(`/api/v1/tenants/${tenant}/operations/${runId}`);
    expect(times(JSON.parse(detail.body))).toEqual(times(expected));
    const page = await statementsOf(`/api/v1/tenants/${tenant}/operations?limit=50`);
    const listed = JSON.parse(page.body).data.find((r: { id: string }) => r.id === runId);
    expect(times(listed)).toEqual(times(expected));
    expect(expected.completedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('answers a tenant the caller does not belong to from the credential statement alone, exactly as an unknown one', async () => {
    const notMember = await statementsOf(`/api/v1/tenants/${other}/operations`);
    const unknown = await statementsOf('/api/v1/tenants/00000000-0000-4000-8000-000000000000/operations');
    expect(notMember.status).toBe(404);
    expect(notMember.body).toBe(unknown.body);
    expect(notMember.statements).toHaveLength(1);
    expect(scopes(notMember.statements)).toBe(0);
  });
});

describe('a one-message tenant read', () => {
  it('fails, returning nothing, when its statement leaves the role or the tenant', async () => {
    const { db } = ledger.database;
    const leaves = [
      sql<string>`set_config('role', 'none', true)`,
      sql<string>`set_config('opsledger.tenant_id', ${other}, true)`,
    ];
    for (const leave of leaves) {
      const query = db
        .selectFrom('operation_runs')
        .select(leave.as('x'))
        .where('tenant_id', '=', tenant)
        .limit(1);
      await expect(ledger.database.tenantRead(tenant, query)).rejects.toThrow(/changed its role or tenant/);
    }
    // Values with quotes and backslashes are data, never SQL.
    const hostile = "x' or true or 'a\\'--";
    const query = db
      .selectFrom('operation_runs')
      .select('id')
      .where('tenant_id', '=', tenant)
      .where('type', '=', hostile);
    expect(await ledger.database.tenantRead(tenant, query)).toEqual([]);
    const echoed = db
      .selectFrom('tenants')
      .select(sql<string>`${hostile}::text`.as('v'))
      .where('id', '=', tenant);
    expect(await ledger.database.tenantRead(tenant, echoed)).toEqual([{ v: hostile }]);
  });
});

describe("a one-message tenant write (the worker's transitions)", () => {
  it('commits its statement whole or not at all, and a read of that kind cannot write', async () => {
    const { db } = ledger.database;
    // A queued run of its own (a completed run is immutable).
    const { run: mine } = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'written' },
      initiator: { kind: 'system' },
    });
    const note = (v: string) =>
      db
        .updateTable('operation_runs')
        .set({ initiator_name: v })
        .where('tenant_id', '=', tenant)
        .where('id', '=', mine.id)
        .returning('initiator_name');
    expect(await ledger.database.tenantWrite(tenant, note('one'))).toEqual([{ initiator_name: 'one' }]);
    // A statement that fails after its update (the scope check here) leaves nothing behind, and
    // the connection it used serves the next statements as before (more than the pool holds).
    const leaving = db
      .updateTable('operation_runs')
      .set({
        initiator_name: 'two',
        context: sql`context || jsonb_build_object('x', set_config('role', 'none', true))`,
      })
      .where('tenant_id', '=', tenant)
      .where('id', '=', mine.id)
      .returning('initiator_name');
    for (let i = 0; i < 12; i++) {
      await expect(ledger.database.tenantWrite(tenant, leaving)).rejects.toThrow(
        /changed its role or tenant/,
      );
    }
    const read = db
      .selectFrom('operation_runs')
      .select('initiator_name')
      .where('tenant_id', '=', tenant)
      .where('id', '=', mine.id);
    expect(await ledger.database.tenantRead(tenant, read)).toEqual([{ initiator_name: 'one' }]);
    // Another tenant's runs are out of reach of a write scoped to this one, even named outright.
    await ledger.service.start({
      tenantId: other,
      type: 'test.task',
      inputs: { key: 'theirs' },
      initiator: { kind: 'system' },
    });
    const theirs = db
      .updateTable('operation_runs')
      .set({ initiator_name: 'taken' })
      .where('tenant_id', '=', other)
      .returning('id');
    expect(await ledger.database.tenantWrite(tenant, theirs)).toEqual([]);
    expect(
      await ledger.database.tenantRead(
        other,
        db.selectFrom('operation_runs').select('initiator_name').where('tenant_id', '=', other),
      ),
    ).not.toContainEqual({ initiator_name: 'taken' });
    // A read is read-only: a writing statement sent as a read is refused.
    await expect(ledger.database.tenantRead(tenant, note('three'))).rejects.toThrow(/read-only transaction/);
    expect(await ledger.database.tenantRead(tenant, read)).toEqual([{ initiator_name: 'one' }]);
  });
});

describe("a token's last use", () => {
  it('is written after the response, then not again within the minute', async () => {
    const created = await app.opsledger.credentials.createToken(userId, 'fresh');
    const fresh = created.secret;
    const freshId = created.token.id;
    await app.opsledger.credentials.flushTokenUses();
    captured.length = 0;
    const res = await app.inject({
      method: 'GET',
      url: `/api/v1/tenants/${tenant}/operations`,
      headers: { authorization: `Bearer ${fresh}` },
    });
    expect(res.statusCode).toBe(200);
    expect(captured.some((s) => /^\s*update "api_tokens"/.test(s))).toBe(false);
    // Written by the batch a moment later, without anyone asking.
    const deadline = Date.now() + 30_000;
    let lastUsedAt: string | null = null;
    while (!lastUsedAt && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const tokens = await app.opsledger.credentials.listTokens(userId);
      lastUsedAt = tokens.data.find((t) => t.id === freshId)?.lastUsedAt ?? null;
    }
    expect(lastUsedAt).not.toBeNull();
    // Used again within the minute: nothing more to write.
    captured.length = 0;
    for (let i = 0; i < 3; i++) {
      await app.inject({
        method: 'GET',
        url: `/api/v1/tenants/${tenant}/operations`,
        headers: { authorization: `Bearer ${fresh}` },
      });
    }
    await app.opsledger.credentials.flushTokenUses();
    expect(captured.some((s) => /^\s*update "api_tokens"/.test(s))).toBe(false);
  });
});
