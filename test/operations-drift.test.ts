import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphSimulator, type GraphSimulator } from '../src/graph/simulator.ts';
import { driftRepository } from '../src/suite/drift/generate.ts';
import { findInDatabase, type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

const SECRET = 'Dr1ft.Secret~0a1b2c3d4e5f6a7b8c9d';
const DIRECTORY = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';

let sim: GraphSimulator;
let ledger: SuiteLedger;
let tenant: string;
let baselineId: string;

const findingsOf = (runId: string) =>
  ledger.database.tenantTx(tenant, (trx) => driftRepository.listFindings(trx, tenant, runId));

beforeAll(async () => {
  sim = createGraphSimulator({ defaultPolicyCount: 12, pageSize: 5 });
  await sim.start();
  sim.registerTenant(DIRECTORY, { clientId: 'app-drift', clientSecret: SECRET });
  ledger = await startSuiteLedger({ simulator: sim });
  tenant = await ledger.createTenant('Northwind');
  await ledger.suite.connections.set(tenant, {
    directoryId: DIRECTORY,
    clientId: 'app-drift',
    clientSecret: SECRET,
  });
  const backup = await ledger.run(tenant, 'backup.create', { name: 'Baseline' });
  baselineId = (backup.context as { links: { backupSetId: string } }).links.backupSetId;
  await ledger.run(tenant, 'inventory.sync', {});
});

afterAll(async () => {
  await ledger?.stop();
  await sim?.stop();
});

describe('drift.generate', () => {
  it('reports nothing when the inventory matches the baseline', async () => {
    const run = await ledger.run(tenant, 'drift.generate', { baselineId });
    expect(run.outcome).toBe('succeeded');
    expect(run.summary_counts).toEqual({ added: 0, removed: 0, modified: 0 });
  });

  it('after a simulator change reports exactly the added, removed and modified policies', async () => {
    const configs = sim.listPolicies(DIRECTORY, 'deviceConfigurations');
    const compliance = sim.listPolicies(DIRECTORY, 'compliancePolicies');
    const catalog = sim.listPolicies(DIRECTORY, 'settingsCatalog');
    const added = [
      sim.addPolicy(DIRECTORY, 'appProtection', {
        displayName: 'New iOS policy',
        settings: { pinRequired: true },
      }),
      sim.addPolicy(DIRECTORY, 'settingsCatalog', { displayName: 'New catalog profile', settings: {} }),
    ];
    sim.deletePolicy(DIRECTORY, 'deviceConfigurations', configs[2]!.id);
    sim.deletePolicy(DIRECTORY, 'compliancePolicies', compliance[7]!.id);
    const settings = configs[5]!.settings as Record<string, unknown>;
    sim.updatePolicy(DIRECTORY, 'deviceConfigurations', configs[5]!.id, {
      settings: { ...settings, cameraBlocked: !settings.cameraBlocked, passwordMinimumLength: 42 },
    });
    sim.updatePolicy(DIRECTORY, 'compliancePolicies', compliance[1]!.id, {
      displayName: 'Renamed compliance',
    });
    sim.updatePolicy(DIRECTORY, 'settingsCatalog', catalog[0]!.id, {
      settings: { ...(catalog[0]!.settings as object), edge: { homepage: 'https://example.test' } },
    });
    // Saved without a change: Graph bumps version and timestamp, which is not drift.
    sim.updatePolicy(DIRECTORY, 'settingsCatalog', catalog[1]!.id, {});

    const sync = await ledger.run(tenant, 'inventory.sync', {});
    expect(sync.summary_counts).toMatchObject({ created: 2, updated: 4, deleted: 2 });
    const run = await ledger.run(tenant, 'drift.generate', { baselineId });
    expect(run.outcome).toBe('succeeded');
    expect(run.summary_counts).toEqual({ added: 2, removed: 2, modified: 3 });
    const findings = await findingsOf(run.id);
    const byId = Object.fromEntries(findings.map((f) => [f.externalId, [f.kind, f.changedPaths]]));
    expect(byId).toEqual({
      [added[0]!.id]: ['added', []],
      [added[1]!.id]: ['added', []],
      [configs[2]!.id]: ['removed', []],
      [compliance[7]!.id]: ['removed', []],
      [configs[5]!.id]: ['modified', ['settings.cameraBlocked', 'settings.passwordMinimumLength']],
      [compliance[1]!.id]: ['modified', ['displayName']],
      [catalog[0]!.id]: ['modified', ['settings.edge']],
    });
    const legacy = await ledger.database.db
      .selectFrom('drift_generation_runs')
      .selectAll()
      .where('tenant_id', '=', tenant)
      .where('operation_run_id', '=', run.id)
      .executeTakeFirstOrThrow();
    expect(legacy).toMatchObject({
      state: 'done',
      baseline_id: baselineId,
      added_count: 2,
      removed_count: 2,
      modified_count: 3,
    });
  });

  it('a baseline that is not a backup set of this tenant fails the run', async () => {
    const other = await ledger.createTenant('Other');
    const run = await ledger.run(other, 'drift.generate', { baselineId });
    expect(run.outcome).toBe('failed');
    expect(run.failure_summary).toEqual([
      { code: 'baseline_not_found', message: expect.stringContaining(baselineId), attempt: run.attempts },
    ]);
  });

  it('leaves the client secret nowhere', async () => {
    expect(await findInDatabase(ledger, [SECRET])).toEqual([]);
    expect(ledger.logText()).not.toContain(SECRET);
  });
});
