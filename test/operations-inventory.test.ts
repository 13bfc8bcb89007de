import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphSimulator, type GraphSimulator } from '../src/graph/simulator.ts';
import { findInDatabase, type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

const SECRET = 'Inv3ntory~Cl1ent.Secret_9f8e7d6c5b4a';
const DIRECTORY = '0b1d2c3e-4f50-4a61-8b72-9c83d4e5f607';
const COUNTS = {
  deviceConfigurations: 2000,
  compliancePolicies: 1500,
  settingsCatalog: 1000,
  appProtection: 500,
};

let sim: GraphSimulator;
let ledger: SuiteLedger;
let tenant: string;

async function legacyRow(runId: string, tenantId = tenant) {
  return ledger.database.db
    .selectFrom('inventory_sync_runs')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('operation_run_id', '=', runId)
    .executeTakeFirst();
}

beforeAll(async () => {
  sim = createGraphSimulator({ pageSize: 250 });
  await sim.start();
  sim.registerTenant(DIRECTORY, { clientId: 'app-inventory', clientSecret: SECRET, policyCounts: COUNTS });
  ledger = await startSuiteLedger({ simulator: sim });
  tenant = await ledger.createTenant('Contoso');
  await ledger.suite.connections.set(tenant, {
    directoryId: DIRECTORY,
    clientId: 'app-inventory',
    clientSecret: SECRET,
  });
});

afterAll(async () => {
  await ledger?.stop();
  await sim?.stop();
});

describe('inventory.sync', () => {
  it('syncs 5,000 policies over four families through throttling, with exact counts', async () => {
    sim.injectFault(DIRECTORY, 'deviceConfigurations', {
      kind: 'throttle',
      status: 429,
      retryAfterSeconds: 1,
      onPage: 3,
      times: 1,
    });
    const run = await ledger.run(tenant, 'inventory.sync', {});
    expect(run.outcome).toBe('succeeded');
    expect(run.summary_counts).toEqual({ created: 5000, updated: 0, unchanged: 0, deleted: 0, failed: 0 });
    expect(run.failure_summary).toEqual([]);
    expect(sim.requestLog.filter((e) => e.status === 429)).toHaveLength(1);
    const stored = await sql<{ family: string; n: number }>`
      select family, count(*)::int as n from inventory_items where tenant_id = ${tenant} group by family`.execute(
      ledger.database.db,
    );
    expect(Object.fromEntries(stored.rows.map((r) => [r.family, r.n]))).toEqual(COUNTS);
    expect(await legacyRow(run.id)).toMatchObject({
      status: 'success',
      items_created: 5000,
      items_unchanged: 0,
      scope: ['appProtection', 'compliancePolicies', 'deviceConfigurations', 'settingsCatalog'],
    });
  });

  it('a second sync reports every policy unchanged', async () => {
    const run = await ledger.run(tenant, 'inventory.sync', { scope: ['settingsCatalog', 'appProtection'] });
    expect(run.outcome).toBe('succeeded');
    expect(run.summary_counts).toEqual({ created: 0, updated: 0, unchanged: 1500, deleted: 0, failed: 0 });
    const all = await ledger.run(tenant, 'inventory.sync', {});
    expect(all.summary_counts).toEqual({ created: 0, updated: 0, unchanged: 5000, deleted: 0, failed: 0 });
  });

  it('counts policies created, updated and deleted in Graph since the last sync', async () => {
    const configs = sim.listPolicies(DIRECTORY, 'deviceConfigurations');
    sim.updatePolicy(DIRECTORY, 'deviceConfigurations', configs[10]!.id, { displayName: 'Renamed' });
    sim.updatePolicy(DIRECTORY, 'deviceConfigurations', configs[11]!.id, {
      settings: { cameraBlocked: true },
    });
    sim.deletePolicy(DIRECTORY, 'deviceConfigurations', configs[12]!.id);
    sim.addPolicy(DIRECTORY, 'appProtection', {
      displayName: 'New app policy',
      settings: { pinRequired: true },
    });
    const run = await ledger.run(tenant, 'inventory.sync', {});
    expect(run.summary_counts).toEqual({ created: 1, updated: 2, unchanged: 4997, deleted: 1, failed: 0 });
    const deleted = await ledger.database.db
      .selectFrom('inventory_items')
      .select(['external_id', 'deleted_at'])
      .where('tenant_id', '=', tenant)
      .where('deleted_at', 'is not', null)
      .execute();
    expect(deleted.map((d) => d.external_id)).toEqual([configs[12]!.id]);
  });

  it('a family answering 403 makes the run partially_succeeded with one failure entry and no secret', async () => {
    const clear = sim.injectFault(DIRECTORY, 'compliancePolicies', { kind: 'error', status: 403 });
    const run = await ledger.run(tenant, 'inventory.sync', {});
    clear();
    expect(run.outcome).toBe('partially_succeeded');
    expect(run.failure_summary).toHaveLength(1);
    expect(run.failure_summary[0]!.code).toBe('graph_forbidden');
    expect(run.failure_summary[0]!.message).toMatch(/^compliancePolicies: /);
    expect(JSON.stringify(run)).not.toContain(SECRET);
    // The unreadable family's items are neither counted as deleted nor touched.
    expect(run.summary_counts).toEqual({ created: 0, updated: 0, unchanged: 3500, deleted: 0, failed: 1 });
    const live = await sql<{ n: number }>`
      select count(*)::int as n from inventory_items
      where tenant_id = ${tenant} and family = 'compliancePolicies' and deleted_at is null`.execute(
      ledger.database.db,
    );
    expect(live.rows[0]!.n).toBe(1500);
    expect(await legacyRow(run.id)).toMatchObject({
      status: 'partial',
      items_failed: 1,
      items_unchanged: 3500,
    });
  });

  it('a family whose throttling outlasts the retries is a failure entry too', async () => {
    const clear = sim.injectFault(DIRECTORY, 'appProtection', {
      kind: 'throttle',
      status: 429,
      retryAfterSeconds: 0,
    });
    const run = await ledger.run(tenant, 'inventory.sync', { scope: ['appProtection', 'settingsCatalog'] });
    clear();
    expect(run.outcome).toBe('partially_succeeded');
    expect(run.failure_summary.map((f) => f.code)).toEqual(['graph_throttled']);
    expect(run.summary_counts).toMatchObject({ unchanged: 1000, failed: 1 });
  });

  it('wrong credentials fail the run after its attempts, naming no secret', async () => {
    const other = await ledger.createTenant('Wrong secret');
    await ledger.suite.connections.set(other, {
      directoryId: DIRECTORY,
      clientId: 'app-inventory',
      clientSecret: `${SECRET}-wrong`,
    });
    const run = await ledger.run(other, 'inventory.sync', { scope: ['appProtection'] });
    expect(run.outcome).toBe('failed');
    expect(run.attempts).toBe(3);
    expect(run.failure_summary[0]!.code).toBe('graph_auth_failed');
    expect(await legacyRow(run.id, other)).toMatchObject({
      status: 'error',
      error_message: expect.any(String),
    });
    expect((await legacyRow(run.id, other))?.error_message).not.toContain(SECRET);
  });

  it('leaves the client secret nowhere: tables, queue, logs, responses', async () => {
    expect(await findInDatabase(ledger, [SECRET])).toEqual([]);
    expect(ledger.logText()).not.toContain(SECRET);
    const runs = await ledger.service.list(tenant, { limit: 200 });
    expect(JSON.stringify(runs)).not.toContain(SECRET);
    const conn = await ledger.suite.connections.get(tenant);
    expect(conn).toMatchObject({ directoryId: DIRECTORY, clientId: 'app-inventory', hasSecret: true });
    expect(JSON.stringify(conn)).not.toContain(SECRET);
    const stored = await ledger.database.db.selectFrom('tenant_graph_connections').selectAll().execute();
    expect(stored.every((r) => r.client_secret_encrypted.startsWith('v1:'))).toBe(true);
  });
});
