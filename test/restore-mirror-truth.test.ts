import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphSimulator, type GraphSimulator } from '../src/graph/simulator.ts';
import type { HttpApp } from '../src/http/app.ts';
import { createHttpServer } from '../src/main/http.ts';
import { checkRestoreMirrors } from '../src/suite/restore/mirror-check.ts';
import {
  type ExternalWriter,
  externalWriter,
  mirrorsOfSource,
  WRITER_ROLE,
} from './helpers/external-writer.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

/**
 * The mirror of a restore record tells the truth about it: a deleted record completes its mirror;
 * Opsledger refuses (409) to cancel work another application runs, or to retry it without knowing
 * what it restored; a retry restores exactly the original items; a mirror that disagrees with its
 * record is marked on the run by the worker's periodic check, without anyone running `verify`.
 */
const DIRECTORY = '6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d';
const SECRET = 'Mirr0r/Secret+value=0123456789abcdef';

let sim: GraphSimulator;
let ledger: SuiteLedger;
let app: HttpApp;
let writer: ExternalWriter;
let tenant: string;
let other: string;
let backupId: string;
let backupItems: string[];
type Person = Record<string, string>;
const auth: Record<'operator' | 'viewer' | 'outsider', Person> = {} as never;

const runs = (t = tenant) => `/api/v1/tenants/${t}/operations`;

async function person(name: keyof typeof auth, role: 'operator' | 'viewer', t: string) {
  const user = await app.opsledger.access.createUser({
    email: `${name}-mirror-${process.pid}@example.test`,
    password: 'a long enough password',
    displayName: name,
  });
  await app.opsledger.access.addMember(t, user.email, role);
  const { secret } = await app.opsledger.credentials.createToken(user.id, name);
  auth[name] = { authorization: `Bearer ${secret}` };
}

/** A restore record as another application writes it, by plain SQL under its own role. */
async function externalRecord(options: {
  status: string;
  items?: string[];
  requestedItems?: string[] | null;
  itemResults?: string;
}): Promise<{ id: string; runId: string }> {
  const id = uuidv7();
  const done = !['pending', 'running'].includes(options.status);
  await writer.tx(
    async (q) => {
      await q(
        `insert into restore_runs (id, tenant_id, backup_set_id, status, requested_items, initiator_kind, initiator_name,
                                   started_at, completed_at, error_code, error_message)
         values ($1, $2, $3, $4, $5, 'system', 'suite restore job', $6, $7, $8, $9)`,
        [
          id,
          tenant,
          backupId,
          options.status,
          options.requestedItems ? JSON.stringify(options.requestedItems) : null,
          options.status === 'pending' ? null : new Date(),
          done ? new Date() : null,
          options.status === 'failed' ? 'graph_unavailable' : null,
          options.status === 'failed' ? 'Graph said no' : null,
        ],
      );
      for (const item of options.items ?? []) {
        await q(
          `insert into restore_run_items (tenant_id, restore_run_id, family, external_id, result)
           values ($1, $2, 'compliancePolicies', $3, $4)`,
          [tenant, id, item, options.itemResults ?? (done ? 'failed' : 'pending')],
        );
      }
    },
    { role: WRITER_ROLE },
  );
  const [mirror] = await mirrorsOfSource(ledger, id);
  return { id, runId: mirror!.id };
}

async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const recordOf = (id: string) =>
  ledger.database.db.selectFrom('restore_runs').selectAll().where('id', '=', id).executeTakeFirst();

beforeAll(async () => {
  sim = createGraphSimulator({ defaultPolicyCount: 4, pageSize: 3 });
  await sim.start();
  sim.registerTenant(DIRECTORY, { clientId: 'app-mirror', clientSecret: SECRET });
  // The mirror check runs every second here (a minute by default).
  ledger = await startSuiteLedger({ simulator: sim, env: { MIRROR_CHECK_SECONDS: '1' } });
  app = await createHttpServer(ledger, { suite: true, limits: { startsPerMinute: 100_000 } });
  await app.ready();
  tenant = await ledger.createTenant('Mirrored');
  other = await ledger.createTenant('Elsewhere');
  await ledger.suite.connections.set(tenant, {
    directoryId: DIRECTORY,
    clientId: 'app-mirror',
    clientSecret: SECRET,
  });
  const backup = await ledger.run(tenant, 'backup.create', { name: 'Before' });
  backupId = (backup.context as { links: { backupSetId: string } }).links.backupSetId;
  backupItems = (
    await sql<{ external_id: string }>`select external_id from backup_items where backup_set_id = ${backupId}
                                        order by external_id`.execute(ledger.database.db)
  ).rows.map((r) => r.external_id);
  expect(backupItems.length).toBeGreaterThanOrEqual(10);
  await person('operator', 'operator', tenant);
  await person('viewer', 'viewer', tenant);
  await person('outsider', 'operator', other);
  writer = await externalWriter(ledger);
});

afterAll(async () => {
  await writer?.close();
  await app?.close();
  await ledger?.stop();
  await sim?.stop();
});

describe('a deleted record', () => {
  it('completes its mirror as failed, naming the deletion, whoever deletes it', async () => {
    for (const status of ['pending', 'running']) {
      const { id, runId } = await externalRecord({ status, items: backupItems.slice(0, 2) });
      await writer.tx((q) => q('delete from restore_runs where tenant_id = $1 and id = $2', [tenant, id]), {
        role: WRITER_ROLE,
      });
      const run = (await app.inject({ url: `${runs()}/${runId}`, headers: auth.viewer })).json();
      expect(run).toMatchObject({
        status: 'completed',
        outcome: 'failed',
        source: { type: 'restore_run', id },
      });
      expect(run.failureSummary[0]).toEqual({
        code: 'source_deleted',
        message: 'its restore record was deleted before it completed; what it restored is not known',
      });
    }
  });

  it('one deleted behind the trigger’s back is completed by the periodic check', async () => {
    const { id, runId } = await externalRecord({ status: 'running' });
    // As a bulk clean-up with triggers off would: no row trigger sees this delete.
    await writer.tx(async (q) => {
      await q('set local session_replication_role = replica');
      await q('delete from restore_runs where id = $1', [id]);
    });
    expect((await ledger.service.get(tenant, runId)).status).toBe('running');
    const run = await until('the check to complete the orphaned mirror', async () => {
      const r = await ledger.service.get(tenant, runId);
      return r.status === 'completed' ? r : null;
    });
    expect(run.outcome).toBe('failed');
    expect(run.failureSummary[0]!.code).toBe('source_deleted');
  });
});

describe('work another application owns', () => {
  it('cancel is refused with a 409 that says why, and their record is left as it was', async () => {
    for (const status of ['pending', 'running']) {
      const { id, runId } = await externalRecord({ status, items: backupItems.slice(0, 1) });
      const before = await recordOf(id);
      const res = await app.inject({
        method: 'POST',
        url: `${runs()}/${runId}/cancel`,
        headers: auth.operator,
      });
      expect(res.statusCode).toBe(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().detail).toMatch(/another application owns and runs; .*cancel it in that application/);
      expect(await recordOf(id)).toEqual(before);
      expect((await ledger.service.get(tenant, runId)).status).toBe(
        status === 'pending' ? 'queued' : 'running',
      );
      // The role matrix and the tenant wall stand in front of the 409.
      const viewer = await app.inject({
        method: 'POST',
        url: `${runs()}/${runId}/cancel`,
        headers: auth.viewer,
      });
      expect(viewer.statusCode).toBe(403);
      const outsider = await app.inject({
        method: 'POST',
        url: `${runs()}/${runId}/cancel`,
        headers: auth.outsider,
      });
      expect(outsider.statusCode).toBe(404);
      const foreign = await app.inject({
        method: 'POST',
        url: `${runs(other)}/${runId}/cancel`,
        headers: auth.outsider,
      });
      expect(foreign.statusCode).toBe(404);
    }
  });

  it('a retry is refused (409) when the record does not say which items it restored', async () => {
    const { id, runId } = await externalRecord({ status: 'failed', requestedItems: null });
    const count = async () =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from restore_runs where tenant_id = ${tenant}`.execute(
          ledger.database.db,
        )
      ).rows[0]!.n;
    const before = await count();
    for (const url of [`${runs()}/${runId}/retry`, `/api/v1/tenants/${tenant}/restore-runs/${id}/retry`]) {
      const res = await app.inject({ method: 'POST', url, headers: auth.operator, payload: {} });
      expect(res.statusCode, url).toBe(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().detail).toMatch(/without naming its items.*whole backup/);
    }
    expect(await count()).toBe(before);
  });

  it('a retry restores exactly the items the original did, and shows them', async () => {
    // As in the report: the record names no items, its item rows list three of the backup's.
    const three = [backupItems[1]!, backupItems[4]!, backupItems[7]!];
    const original = await externalRecord({ status: 'failed', requestedItems: null, items: three });
    const res = await app.inject({
      method: 'POST',
      url: `${runs()}/${original.runId}/retry`,
      headers: auth.operator,
      payload: {},
    });
    expect(res.statusCode, res.body).toBe(202);
    const retry = res.json().run;
    expect(retry.context.inputs).toMatchObject({ backupId, items: [...three].sort() });
    const done = await ledger.waitForRun(tenant, retry.id, (r) => r.status === 'completed', 60_000);
    const restore = await ledger.restoreRuns.get(tenant, done.source_id!);
    expect(restore.requestedItems).toEqual([...three].sort());
    expect(restore.items.map((i) => i.externalId).sort()).toEqual([...three].sort());
    expect(restore.items.every((i) => i.result === 'succeeded')).toBe(true);
    expect(done.summary_counts).toMatchObject({ total: 3, failed: 0 });

    // Items the record names are used as they are, through the restore-runs API too.
    const named = await externalRecord({ status: 'failed', requestedItems: [backupItems[0]!] });
    const again = await app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/restore-runs/${named.id}/retry`,
      headers: auth.operator,
      payload: {},
    });
    expect(again.statusCode, again.body).toBe(202);
    expect(again.json().restore.requestedItems).toEqual([backupItems[0]]);
    expect(again.json().run.context.inputs.items).toEqual([backupItems[0]]);
  });
});

describe('divergence found without verify', () => {
  it('item progress written without its record is marked on the run, counted, and cleared when they agree', async () => {
    const { id, runId } = await externalRecord({ status: 'running', items: backupItems.slice(0, 2) });
    const detail = (headers: Person, t = tenant) => app.inject({ url: `${runs(t)}/${runId}`, headers });
    expect((await detail(auth.viewer)).json().divergence).toBeNull();
    // Another application records an item's result and never updates the record: the mirror,
    // moved only by the record, still counts it pending.
    await writer.tx(
      (q) =>
        q(
          `update restore_run_items set result = 'succeeded', action = 'update'
           where tenant_id = $1 and restore_run_id = $2 and external_id = $3`,
          [tenant, id, backupItems[0]],
        ),
      { role: WRITER_ROLE },
    );
    const marked = await until('the divergence mark', async () => {
      const run = (await detail(auth.viewer)).json();
      return run.divergence ? run : null;
    });
    expect(marked.divergence.detail).toMatch(
      /the restore record and its mirror disagree: the mirror counts .*"unchanged":0.*the items say/,
    );
    expect(new Date(marked.divergence.detectedAt).getTime()).toBeLessThanOrEqual(Date.now());
    // The gauge counts every marked run of every tenant (other records of this file that
    // listed their items after the record was written are marked too, rightly).
    const gauge = async () => {
      const line = /^opsledger_mirror_divergent_runs (\d+)$/m.exec(
        (await app.inject({ url: '/metrics' })).body,
      );
      return Number(line?.[1]);
    };
    const markedInDatabase = async () =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from operation_runs where divergence is not null`.execute(
          ledger.database.db,
        )
      ).rows[0]!.n;
    const withOurs = await gauge();
    expect(withOurs).toBeGreaterThanOrEqual(1);
    expect(withOurs).toBe(await markedInDatabase());
    // The mark is the tenant's: another tenant's member learns nothing of the run.
    expect((await detail(auth.outsider, other)).statusCode).toBe(404);
    expect((await detail(auth.outsider)).statusCode).toBe(404);

    // The record catches up: the mirror follows it, and the next check clears the mark.
    await writer.tx(
      (q) => q(`update restore_runs set status = 'completed', completed_at = now() where id = $1`, [id]),
      { role: WRITER_ROLE },
    );
    await until('the mark cleared', async () => (await detail(auth.viewer)).json().divergence === null);
    expect(await markedInDatabase()).toBeLessThan(withOurs);
    expect(await gauge()).toBe(await markedInDatabase());
    // A direct pass finds what the worker's passes marked, and has nothing left to change.
    const pass = await checkRestoreMirrors(ledger.database);
    expect(pass).toMatchObject({ marked: 0, cleared: 0, completedOrphans: 0 });
    expect(pass.divergent).toBe(await markedInDatabase());
  });
});
