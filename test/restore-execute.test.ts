import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLICY_FAMILY_NAMES } from '../src/graph/families.ts';
import { createGraphSimulator, type GraphSimulator } from '../src/graph/simulator.ts';
import { NotFoundError } from '../src/shared/errors.ts';
import { until } from './helpers/sse.ts';
import { findInDatabase, type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

const SECRET = 'R3store/Secret+value=0123456789abcdef';
const DIRECTORY = '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b';
const USER = { kind: 'user' as const, userId: '00000000-0000-4000-8000-0000000000aa', name: 'Alex Operator' };

let sim: GraphSimulator;
let ledger: SuiteLedger;
let tenant: string;
let backupId: string;

const snapshot = () =>
  Object.fromEntries(POLICY_FAMILY_NAMES.map((f) => [f, sim.listPolicies(DIRECTORY, f)]));
const writes = () => sim.requestLog.filter((e) => e.method !== 'GET' && !e.path.includes('/oauth2/')).length;

async function finished(restoreId: string) {
  const restore = await ledger.restoreRuns.get(tenant, restoreId);
  const run = await ledger.waitForRun(tenant, restore.runId!, (r) => r.status === 'completed', 30_000);
  return { restore: await ledger.restoreRuns.get(tenant, restoreId), run };
}

function countsOf(items: { action: string | null; result: string }[]) {
  const ok = (a: string) => items.filter((i) => i.result === 'succeeded' && i.action === a).length;
  return {
    total: items.length,
    created: ok('create'),
    updated: ok('update'),
    unchanged: ok('none'),
    failed: items.filter((i) => i.result === 'failed').length,
    skipped: items.filter((i) => i.result === 'skipped').length,
  };
}

beforeAll(async () => {
  sim = createGraphSimulator({ defaultPolicyCount: 5, pageSize: 3 });
  await sim.start();
  sim.registerTenant(DIRECTORY, { clientId: 'app-restore', clientSecret: SECRET });
  ledger = await startSuiteLedger({ simulator: sim });
  tenant = await ledger.createTenant('Fabrikam');
  await ledger.suite.connections.set(tenant, {
    directoryId: DIRECTORY,
    clientId: 'app-restore',
    clientSecret: SECRET,
  });
  const backup = await ledger.run(tenant, 'backup.create', { name: 'Before the change' });
  expect(backup.summary_counts).toEqual({ items: 20, families: 4 });
  backupId = (backup.context as { links: { backupSetId: string } }).links.backupSetId;
  // Two policies deleted and two changed since the backup.
  const configs = sim.listPolicies(DIRECTORY, 'deviceConfigurations');
  sim.deletePolicy(DIRECTORY, 'deviceConfigurations', configs[0]!.id);
  sim.deletePolicy(DIRECTORY, 'deviceConfigurations', configs[1]!.id);
  const compliance = sim.listPolicies(DIRECTORY, 'compliancePolicies');
  sim.updatePolicy(DIRECTORY, 'compliancePolicies', compliance[3]!.id, { displayName: 'Tampered' });
  sim.updatePolicy(DIRECTORY, 'compliancePolicies', compliance[4]!.id, {
    settings: { ...(compliance[4]!.settings as object), bitLockerEnabled: 'maybe' },
  });
});

afterAll(async () => {
  await ledger?.stop();
  await sim?.stop();
});

describe('restore', () => {
  it('a dry run computes what would change and changes nothing in Graph', async () => {
    const before = snapshot();
    const writesBefore = writes();
    const {
      restore: created,
      run: startedRun,
      created: isNew,
    } = await ledger.restoreRuns.create(tenant, { backupId, dryRun: true }, USER);
    expect(isNew).toBe(true);
    expect(created).toMatchObject({ status: 'pending', dryRun: true, backupId, runId: startedRun.id });
    expect(startedRun.source).toEqual({ type: 'restore_run', id: created.id });
    const { restore, run } = await finished(created.id);
    expect(snapshot()).toEqual(before);
    expect(writes()).toBe(writesBefore);
    expect(restore.status).toBe('completed');
    expect(restore.counts).toEqual({
      total: 20,
      created: 2,
      updated: 2,
      unchanged: 16,
      failed: 0,
      skipped: 0,
    });
    expect(run).toMatchObject({ outcome: 'succeeded', type: 'restore.execute', source_id: created.id });
    expect(run.summary_counts).toEqual(restore.counts);
    expect((run.context as { sourceVersion: number }).sourceVersion).toBe(restore.version);
    expect(run.initiator_name).toBe('Alex Operator');
  });

  it('a restore with failing items mirrors to partially_succeeded with counts equal to its item results', async () => {
    // The first two requests for compliance policies are refused: exactly two items fail.
    sim.injectFault(DIRECTORY, 'compliancePolicies', { kind: 'error', status: 403, times: 2 });
    const { restore: created } = await ledger.restoreRuns.create(tenant, { backupId }, USER);
    const { restore, run } = await finished(created.id);
    expect(restore.status).toBe('completed_with_errors');
    expect(run.outcome).toBe('partially_succeeded');
    expect(restore.counts).toEqual(countsOf(restore.items));
    expect(run.summary_counts).toEqual(countsOf(restore.items));
    expect(restore.counts.failed).toBe(2);
    expect(restore.counts.created).toBe(2);
    expect(run.failure_summary).toHaveLength(2);
    expect(run.failure_summary.every((f) => f.code === 'graph_forbidden')).toBe(true);
    expect(
      restore.items.filter((i) => i.result === 'failed').every((i) => i.family === 'compliancePolicies'),
    ).toBe(true);
    // The deleted policies exist again (under new ids, as Graph assigns them).
    const names = sim.listPolicies(DIRECTORY, 'deviceConfigurations').map((p) => p.displayName);
    const restoredNames = restore.items.filter((i) => i.action === 'create').map((i) => i.displayName);
    for (const name of restoredNames) expect(names).toContain(name);
    expect((run.context as { sourceVersion: number }).sourceVersion).toBe(restore.version);

    // The run's event log tells the same story, item by item, in order.
    let events: Awaited<ReturnType<typeof ledger.eventLog.after>> = [];
    await until(
      async () => {
        events = await ledger.eventLog.after(tenant, run.id, null, 500);
        return events.some((e) => e.kind === 'run.completed');
      },
      30_000,
      'the run.completed event',
    );
    const failedItems = restore.items.filter((i) => i.result === 'failed');
    const itemEvents = events.filter((e) => e.kind === 'item.failed');
    expect(itemEvents.map((e) => [e.data.family, e.data.item, e.data.code])).toEqual(
      failedItems.map((i) => ['compliancePolicies', i.externalId, 'graph_forbidden']),
    );
    for (const e of itemEvents) {
      expect(e.level).toBe('error');
      expect(e.message).toMatch(/^compliancePolicies\/\S+: /);
    }
    const progress = events.filter((e) => e.kind === 'progress').map((e) => e.message);
    expect(progress.at(-1)).toBe('20 of 20 items restored');
    expect(events.at(-1)).toMatchObject({ kind: 'run.completed', data: { outcome: 'partially_succeeded' } });
  });

  it('restores only the requested items; unknown ones fail as not in the backup', async () => {
    const compliance = sim.listPolicies(DIRECTORY, 'compliancePolicies');
    sim.updatePolicy(DIRECTORY, 'compliancePolicies', compliance[0]!.id, { displayName: 'Changed again' });
    const { restore: created } = await ledger.restoreRuns.create(
      tenant,
      { backupId, items: [compliance[0]!.id, 'not-a-real-policy'] },
      USER,
    );
    const { restore, run } = await finished(created.id);
    expect(restore.counts).toEqual({ total: 2, created: 0, updated: 1, unchanged: 0, failed: 1, skipped: 0 });
    expect(run.outcome).toBe('partially_succeeded');
    expect(sim.listPolicies(DIRECTORY, 'compliancePolicies')[0]!.displayName).not.toBe('Changed again');
    expect(restore.items.find((i) => i.externalId === 'not-a-real-policy')?.error?.code).toBe(
      'not_in_backup',
    );
  });

  it('cancelling the mirrored run cancels the restore and skips the items not yet done', async () => {
    sim.injectFault(DIRECTORY, '*', { kind: 'slow', delayMs: 150, times: 200 });
    const { restore: created, run: started } = await ledger.restoreRuns.create(tenant, { backupId }, USER);
    await ledger.waitForRun(
      tenant,
      started.id,
      (r) => r.status === 'running' && (r.summary_counts.unchanged ?? 0) > 0,
    );
    await ledger.service.cancel(tenant, started.id);
    const { restore, run } = await finished(created.id);
    sim.clearFaults(DIRECTORY);
    expect(restore.status).toBe('cancelled');
    expect(run.outcome).toBe('cancelled');
    expect(restore.counts.skipped).toBeGreaterThan(0);
    expect(run.summary_counts).toEqual(countsOf(restore.items));
  });

  it('while a restore of a backup is active, another start returns it', async () => {
    sim.injectFault(DIRECTORY, '*', { kind: 'slow', delayMs: 100, times: 100 });
    const a = await ledger.restoreRuns.create(tenant, { backupId, dryRun: true }, USER);
    const b = await ledger.restoreRuns.create(tenant, { backupId, dryRun: true }, USER);
    expect(b.created).toBe(false);
    expect(b.restore.id).toBe(a.restore.id);
    await ledger.service.cancel(tenant, a.run.id);
    await finished(a.restore.id);
    sim.clearFaults(DIRECTORY);
  });

  it('lists restores newest first and keeps tenants apart', async () => {
    const { data, nextCursor } = await ledger.restoreRuns.list(tenant);
    expect(data.length).toBe(5);
    expect(nextCursor).toBeNull();
    const times = data.map((r) => r.createdAt);
    expect([...times].sort().reverse()).toEqual(times);
    const other = await ledger.createTenant('Elsewhere');
    expect((await ledger.restoreRuns.list(other)).data).toEqual([]);
    await expect(ledger.restoreRuns.get(other, data[0]!.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(ledger.restoreRuns.create(other, { backupId }, USER)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('leaves the client secret nowhere', async () => {
    expect(await findInDatabase(ledger, [SECRET])).toEqual([]);
    expect(ledger.logText()).not.toContain(SECRET);
    const all = await ledger.restoreRuns.list(tenant);
    const details = await Promise.all(all.data.map((r) => ledger.restoreRuns.get(tenant, r.id)));
    expect(JSON.stringify([all, details])).not.toContain(SECRET);
  });
});
