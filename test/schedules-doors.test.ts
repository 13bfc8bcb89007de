import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpApp } from '../src/http/app.ts';
import { MAX_SCHEDULES_PER_TENANT } from '../src/ledger/schedules.ts';
import { createHttpServer } from '../src/main/http.ts';
import { backupRepository } from '../src/suite/backup/repository.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

/**
 * A schedule goes through the door of a direct start (the type's own validation included) when it
 * is created and when it is re-enabled; drift.generate's door refuses another tenant's baseline
 * as an unknown one; the per-tenant cap holds under concurrent creates; a member who leaves takes
 * the firing of their schedules with them until someone re-enables them; the API says who
 * created each schedule.
 */
let ledger: SuiteLedger;
let app: HttpApp;
let tenant: string;
let other: string;
let backupId: string;
let othersBackup: string;
type Person = { id: string; auth: Record<string, string> };
const people: Record<'owner' | 'operator' | 'leaver' | 'viewer' | 'outsider', Person> = {} as never;

async function newBackup(t: string): Promise<string> {
  const id = uuidv7();
  await ledger.database.tenantTx(t, (trx) =>
    backupRepository.createSet(
      trx,
      t,
      { id, name: `Set ${id}`, scope: ['compliancePolicies'], runId: null },
      [],
    ),
  );
  return id;
}

async function person(name: keyof typeof people, role: 'owner' | 'operator' | 'viewer' | null) {
  const user = await app.opsledger.access.createUser({
    email: `${name}-${process.pid}@example.test`,
    password: 'a long enough password',
    displayName: `${name[0]!.toUpperCase()}${name.slice(1)}`,
  });
  if (role) await app.opsledger.access.addMember(tenant, user.email, role);
  const { secret } = await app.opsledger.credentials.createToken(user.id, name);
  people[name] = { id: user.id, auth: { authorization: `Bearer ${secret}` } };
}

/** A signed-in owner's headers: managing members needs a person signed in, never a token. */
async function ownerSession(): Promise<Record<string, string>> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: `owner-${process.pid}@example.test`, password: 'a long enough password' },
  });
  expect(res.statusCode).toBe(200);
  return { cookie: String(res.headers['set-cookie']).split(';')[0]!, 'x-csrf-token': res.json().csrfToken };
}

const schedules = (t = tenant) => `/api/v1/tenants/${t}/schedules`;
const call = (method: 'GET' | 'POST' | 'DELETE', url: string, who: Person, payload?: object) =>
  app.inject({ method, url, headers: who.auth, ...(payload ? { payload } : {}) });
const yearly = (name: string, type: string, inputs: object) => ({ name, type, inputs, cron: '0 0 1 1 *' });

async function runCount(t: string): Promise<number> {
  const r = await sql<{
    n: number;
  }>`select count(*)::int as n from operation_runs where tenant_id = ${t}`.execute(ledger.database.db);
  return r.rows[0]!.n;
}

beforeAll(async () => {
  // No worker: nothing fires unless a test fires it.
  ledger = await startSuiteLedger({ worker: false });
  app = await createHttpServer(ledger, { suite: true, limits: { startsPerMinute: 100_000 } });
  await app.ready();
  tenant = await ledger.createTenant('Doors');
  other = await ledger.createTenant('Other');
  backupId = await newBackup(tenant);
  othersBackup = await newBackup(other);
  await person('owner', 'owner');
  await person('operator', 'operator');
  await person('leaver', 'operator');
  await person('viewer', 'viewer');
  await person('outsider', null);
});

afterAll(async () => {
  await app?.close();
  await ledger?.stop();
});

describe('the door of a start, for schedules', () => {
  it('restore.execute: an unknown backup is refused at creation with the very problem a start gives', async () => {
    const before = await runCount(tenant);
    for (const id of [uuidv7(), othersBackup]) {
      const start = await call('POST', `/api/v1/tenants/${tenant}/operations`, people.operator, {
        type: 'restore.execute',
        inputs: { backupId: id },
      });
      const schedule = await call(
        'POST',
        schedules(),
        people.operator,
        yearly(`restore ${id}`, 'restore.execute', { backupId: id }),
      );
      expect(start.statusCode).toBe(404);
      expect(schedule.statusCode).toBe(404);
      expect(schedule.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(schedule.body).toBe(start.body);
    }
    const listed = await call('GET', schedules(), people.viewer);
    expect(listed.json().data).toEqual([]);
    expect(await runCount(tenant)).toBe(before);
    const ok = await call(
      'POST',
      schedules(),
      people.operator,
      yearly('restore ok', 'restore.execute', { backupId }),
    );
    expect(ok.statusCode, ok.body).toBe(201);
    await call('DELETE', `${schedules()}/${ok.json().id}`, people.operator);
  });

  it('drift.generate: another tenant’s baseline is the same 404 as an unknown one, at the start and at the schedule', async () => {
    const answers: string[] = [];
    for (const baselineId of [uuidv7(), othersBackup]) {
      const start = await call('POST', `/api/v1/tenants/${tenant}/operations`, people.operator, {
        type: 'drift.generate',
        inputs: { baselineId },
      });
      const schedule = await call(
        'POST',
        schedules(),
        people.operator,
        yearly(`drift ${baselineId}`, 'drift.generate', { baselineId }),
      );
      for (const res of [start, schedule]) {
        expect(res.statusCode).toBe(404);
        expect(res.json()).toMatchObject({ status: 404 });
        answers.push(res.body);
      }
    }
    // Unknown and foreign: one answer, byte for byte, through both doors, and the answer of any
    // unknown id (a run's).
    const unknownRun = await call('GET', `/api/v1/tenants/${tenant}/operations/${uuidv7()}`, people.operator);
    expect([...new Set(answers)]).toEqual([unknownRun.body]);
    expect(await runCount(tenant)).toBe(0);
    const started = await call('POST', `/api/v1/tenants/${tenant}/operations`, people.operator, {
      type: 'drift.generate',
      inputs: { baselineId: backupId },
    });
    expect(started.statusCode).toBe(202);
    await ledger.service.cancel(tenant, started.json().run.id);
  });

  it('re-enabling a schedule whose backup is gone is refused as a start would be', async () => {
    const doomed = await newBackup(tenant);
    const created = await call(
      'POST',
      schedules(),
      people.operator,
      yearly('restore doomed', 'restore.execute', { backupId: doomed }),
    );
    expect(created.statusCode).toBe(201);
    const id = created.json().id;
    await call('POST', `${schedules()}/${id}/pause`, people.operator);
    await sql`delete from backup_sets where id = ${doomed}`.execute(ledger.database.db);
    const resumed = await call('POST', `${schedules()}/${id}/resume`, people.operator);
    const start = await call('POST', `/api/v1/tenants/${tenant}/operations`, people.operator, {
      type: 'restore.execute',
      inputs: { backupId: doomed },
    });
    expect(resumed.statusCode).toBe(404);
    expect(resumed.body).toBe(start.body);
    expect((await call('GET', `${schedules()}/${id}`, people.viewer)).json().status).toBe('paused');
    await call('DELETE', `${schedules()}/${id}`, people.operator);
  });
});

describe('the cap of schedules per tenant', () => {
  it('150 concurrent creates in one tenant make exactly 100 schedules; the rest are 409', async () => {
    const t = await ledger.createTenant('Capped');
    await app.opsledger.access.addMember(t, `operator-${process.pid}@example.test`, 'operator');
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        call('POST', schedules(t), people.operator, yearly(`s${i}`, 'inventory.sync', {})),
      ),
    );
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 201)).toHaveLength(MAX_SCHEDULES_PER_TENANT);
    expect(codes.filter((c) => c === 409)).toHaveLength(150 - MAX_SCHEDULES_PER_TENANT);
    for (const r of results.filter((x) => x.statusCode === 409)) {
      expect(r.json().detail).toBe(`a tenant has at most ${MAX_SCHEDULES_PER_TENANT} schedules`);
    }
    const stored = await sql<{
      n: number;
    }>`select count(*)::int as n from schedules where tenant_id = ${t}`.execute(ledger.database.db);
    expect(stored.rows[0]!.n).toBe(MAX_SCHEDULES_PER_TENANT);
  });
});

describe('who created a schedule, and what happens when they leave', () => {
  it('a removed member’s schedules are paused with the reason; only someone re-enabling them resumes them', async () => {
    const mine = await call('POST', schedules(), people.leaver, yearly('leaver sync', 'inventory.sync', {}));
    const kept = await call('POST', schedules(), people.operator, yearly('team sync', 'inventory.sync', {}));
    expect(mine.statusCode).toBe(201);
    expect(mine.json()).toMatchObject({
      createdBy: { userId: people.leaver.id, name: 'Leaver' },
      status: 'active',
      pausedReason: null,
      lastError: null,
    });
    // Every member may read who created it; an outsider learns nothing.
    for (const who of [people.owner, people.operator, people.viewer]) {
      const res = await call('GET', `${schedules()}/${mine.json().id}`, who);
      expect(res.json().createdBy).toEqual({ userId: people.leaver.id, name: 'Leaver' });
    }
    const outsider = await call('GET', `${schedules()}/${mine.json().id}`, people.outsider);
    expect(outsider.statusCode).toBe(404);

    const removed = await app.inject({
      method: 'DELETE',
      url: `/api/v1/tenants/${tenant}/members/${people.leaver.id}`,
      headers: await ownerSession(),
    });
    expect(removed.statusCode).toBe(204);
    const after = (await call('GET', `${schedules()}/${mine.json().id}`, people.viewer)).json();
    expect(after).toMatchObject({
      status: 'paused',
      nextFireAt: null,
      pausedReason: 'its creator was removed from the tenant',
      // Still named by id; the name of someone no longer a member is not the tenant's to see.
      createdBy: { userId: people.leaver.id, name: null },
    });
    expect((await call('GET', `${schedules()}/${kept.json().id}`, people.viewer)).json()).toMatchObject({
      status: 'active',
      pausedReason: null,
    });
    // Made due, it does not fire: the evaluator passes over it.
    await sql`update schedules set next_fire_at = now() - interval '1 second' where id = ${kept.json().id}`.execute(
      ledger.database.db,
    );
    const report = await ledger.schedules.fireDue();
    expect(report.fired).toBe(1);
    const runs = await ledger.service.list(tenant, { initiator: 'schedule' });
    expect(runs.data.map((r) => (r.context.links as Record<string, string>).schedule)).toEqual([
      kept.json().id,
    ]);
    // A viewer may not re-enable it; an operator may, and it fires again.
    expect((await call('POST', `${schedules()}/${mine.json().id}/resume`, people.viewer)).statusCode).toBe(
      403,
    );
    const resumed = await call('POST', `${schedules()}/${mine.json().id}/resume`, people.operator);
    expect(resumed.json()).toMatchObject({ status: 'active', pausedReason: null });
    expect(resumed.json().nextFireAt).not.toBeNull();
  });

  it('a member made a viewer has their schedules paused too, saying so', async () => {
    const made = await call(
      'POST',
      schedules(),
      people.operator,
      yearly('operator sync', 'inventory.sync', {}),
    );
    const demoted = await app.inject({
      method: 'PATCH',
      url: `/api/v1/tenants/${tenant}/members/${people.operator.id}`,
      headers: await ownerSession(),
      payload: { role: 'viewer' },
    });
    expect(demoted.statusCode).toBe(200);
    const after = (await call('GET', `${schedules()}/${made.json().id}`, people.viewer)).json();
    expect(after).toMatchObject({
      status: 'paused',
      createdBy: { userId: people.operator.id, name: 'Operator' },
    });
    expect(after.pausedReason).toMatch(/now a viewer/);
  });
});
