import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphClient } from '../src/graph/client.ts';
import { POLICY_FAMILIES, type PolicyFamily } from '../src/graph/families.ts';
import { createGraphSimulator, deterministicSecret, type GraphSimulator } from '../src/graph/simulator.ts';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const DEVICE_CONFIGS = '/deviceManagement/deviceConfigurations';

function clientFor(sim: GraphSimulator, directoryId: string, clientSecret = 'secret-value-1234') {
  return new GraphClient({ baseUrl: sim.url, directoryId, clientId: 'app-1', clientSecret });
}

async function tokenRequest(sim: GraphSimulator, directoryId: string, form: Record<string, string>) {
  const res = await fetch(`${sim.url}/${directoryId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, text: await res.text() };
}

describe('graph simulator', () => {
  const sims: GraphSimulator[] = [];
  const make = async (opts: Parameters<typeof createGraphSimulator>[0] = {}) => {
    const sim = createGraphSimulator(opts);
    sims.push(sim);
    await sim.start();
    return sim;
  };
  afterAll(async () => {
    await Promise.all(sims.map((s) => s.stop()));
  });

  it('seeds identical data for the same seed across instances, served over HTTP', async () => {
    const a = await make({ seed: 42 });
    const b = await make({ seed: 42 });
    const c = await make({ seed: 43 });
    const dir = '11111111-2222-4333-8444-555555555555';
    for (const sim of [a, b, c])
      sim.registerTenant(dir, { clientId: 'app-1', clientSecret: 'secret-value-1234' });

    for (const { family, path } of POLICY_FAMILIES) {
      const fromA = await clientFor(a, dir).listAll<Record<string, unknown>>(path);
      const fromB = await clientFor(b, dir).listAll<Record<string, unknown>>(path);
      expect(fromA).toHaveLength(25);
      expect(fromA).toEqual(fromB);
      expect(fromA).toEqual(a.listPolicies(dir, family));
      expect(c.listPolicies(dir, family).map((p) => p.id)).not.toEqual(fromA.map((p) => p.id));
    }

    const configs = a.listPolicies(dir, 'deviceConfigurations');
    const first = configs[0]!;
    expect(first.id).toMatch(GUID);
    expect(first['@odata.type']).toBe('#microsoft.graph.windows10GeneralConfiguration');
    expect(first).toMatchObject({
      displayName: expect.any(String),
      description: expect.any(String),
      version: expect.any(Number),
      settings: expect.any(Object),
    });
    expect(Number.isNaN(Date.parse(first.createdDateTime as string))).toBe(false);
    expect(Date.parse(first.lastModifiedDateTime as string)).toBeGreaterThanOrEqual(
      Date.parse(first.createdDateTime as string),
    );
    // Settings must vary, or drift detection has nothing to find.
    expect(new Set(configs.map((p) => JSON.stringify(p.settings))).size).toBeGreaterThan(20);
    expect(new Set(configs.map((p) => p.id)).size).toBe(25);

    const types: Record<PolicyFamily, string> = {
      deviceConfigurations: '#microsoft.graph.windows10GeneralConfiguration',
      compliancePolicies: '#microsoft.graph.windows10CompliancePolicy',
      settingsCatalog: '#microsoft.graph.deviceManagementConfigurationPolicy',
      appProtection: '#microsoft.graph.iosManagedAppProtection',
    };
    for (const { family } of POLICY_FAMILIES) {
      expect(a.listPolicies(dir, family)[0]!['@odata.type']).toBe(types[family]);
    }
  });

  it('makes create, update and delete visible through listing', async () => {
    const sim = await make({ defaultPolicyCount: 3 });
    const dir = randomUUID();
    sim.registerTenant(dir, { clientId: 'app-1', clientSecret: 'secret-value-1234' });
    const client = clientFor(sim, dir);

    const created = await client.post<Record<string, unknown>>(DEVICE_CONFIGS, {
      id: 'client-chosen',
      displayName: 'Created over HTTP',
      settings: { cameraBlocked: true },
    });
    expect(created.id).toMatch(GUID);
    expect(created['@odata.type']).toBe('#microsoft.graph.windows10GeneralConfiguration');
    const afterCreate = await client.listAll<Record<string, unknown>>(DEVICE_CONFIGS);
    expect(afterCreate).toHaveLength(4);
    expect(afterCreate.at(-1)).toMatchObject({ id: created.id, displayName: 'Created over HTTP' });

    await client.patch(`${DEVICE_CONFIGS}/${created.id}`, { displayName: 'Renamed' });
    const fetched = await client.get<Record<string, unknown>>(`${DEVICE_CONFIGS}/${created.id}`);
    expect(fetched).toMatchObject({ displayName: 'Renamed', version: 2, settings: { cameraBlocked: true } });

    const seeded = sim.listPolicies(dir, 'deviceConfigurations')[0]!;
    sim.updatePolicy(dir, 'deviceConfigurations', seeded.id, { description: 'changed in Graph' });
    await client.delete(`${DEVICE_CONFIGS}/${created.id}`);
    const added = sim.addPolicy(dir, 'deviceConfigurations', { displayName: 'Added by test' });
    expect(sim.deletePolicy(dir, 'deviceConfigurations', 'no-such-id')).toBe(false);

    const listed = await client.listAll<Record<string, unknown>>(DEVICE_CONFIGS);
    expect(listed.map((p) => p.id)).not.toContain(created.id);
    expect(listed.find((p) => p.id === seeded.id)?.description).toBe('changed in Graph');
    expect(listed.find((p) => p.id === added.id)?.displayName).toBe('Added by test');
    expect(listed).toHaveLength(4);

    await expect(client.get(`${DEVICE_CONFIGS}/${created.id}`)).rejects.toMatchObject({
      code: 'graph_not_found',
    });
    await expect(client.patch(`${DEVICE_CONFIGS}/nope`, { a: 1 })).rejects.toMatchObject({
      code: 'graph_not_found',
    });

    const replaced = sim.setPolicies(dir, 'compliancePolicies', [{ id: 'fixed-1', displayName: 'Only one' }]);
    expect(replaced[0]).toMatchObject({
      id: 'fixed-1',
      '@odata.type': '#microsoft.graph.windows10CompliancePolicy',
    });
    expect(await client.listAll('/deviceManagement/deviceCompliancePolicies')).toHaveLength(1);
  });

  it('lists 20,000 policies completely, in 200 pages', async () => {
    const sim = await make({ seed: 5 });
    const dir = randomUUID();
    sim.registerTenant(dir, {
      clientId: 'app-1',
      clientSecret: 'secret-value-1234',
      policyCounts: { settingsCatalog: 20_000 },
    });
    // How fast is measured in `npm run bench` (graph-listing), never asserted here.
    let pages = 0;
    const items = await clientFor(sim, dir).listAll<{ id: string }>(
      '/deviceManagement/configurationPolicies',
      {
        onPage: () => {
          pages++;
        },
      },
    );
    expect(items).toHaveLength(20_000);
    expect(new Set(items.map((i) => i.id)).size).toBe(20_000);
    expect(pages).toBe(200);
  });

  it('pages with $top and an opaque $skiptoken, and rejects a forged one', async () => {
    const sim = await make({ defaultPolicyCount: 7 });
    const dir = randomUUID();
    sim.registerTenant(dir, { clientId: 'app-1', clientSecret: 'secret-value-1234' });
    const pages: number[] = [];
    const items = await clientFor(sim, dir).listAll(`${DEVICE_CONFIGS}?$top=3`, {
      onPage: (page) => {
        pages.push(page.length);
      },
    });
    expect(pages).toEqual([3, 3, 1]);
    expect(items).toHaveLength(7);
    await expect(clientFor(sim, dir).listAll(`${DEVICE_CONFIGS}?$skiptoken=garbage`)).rejects.toMatchObject({
      code: 'graph_bad_request',
      status: 400,
    });
  });

  it('checks client credentials without echoing the secret', async () => {
    const sim = await make();
    const dir = randomUUID();
    sim.registerTenant(dir, { clientId: 'app-1', clientSecret: 'right-secret-value' });
    const wrong = await tokenRequest(sim, dir, {
      grant_type: 'client_credentials',
      client_id: 'app-1',
      client_secret: 'wrong-secret-value-xyz',
    });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.text).error).toBe('invalid_client');
    expect(wrong.text).not.toContain('wrong-secret-value-xyz');

    const ok = await tokenRequest(sim, dir, {
      grant_type: 'client_credentials',
      client_id: 'app-1',
      client_secret: 'right-secret-value',
    });
    const body = JSON.parse(ok.text);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, access_token: expect.any(String) });

    const noToken = await fetch(`${sim.url}/v1.0${DEVICE_CONFIGS}`);
    expect(noToken.status).toBe(401);
    const withToken = await fetch(`${sim.url}/v1.0${DEVICE_CONFIGS}`, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    expect(withToken.status).toBe(200);
  });

  it("auto-registers unknown tenants only with the installation's keyed secret", async () => {
    const key = randomBytes(32);
    const auto = await make({ autoRegisterKey: key, defaultPolicyCount: 4 });
    const strict = await make();
    const dir = randomUUID();
    const secret = deterministicSecret(key, dir);
    expect(secret).toBe(deterministicSecret(key, dir));
    expect(secret).not.toBe(deterministicSecret(key, randomUUID()));
    // Another installation's key (or any constant) does not open this simulator's directories.
    await expect(
      clientFor(auto, dir, deterministicSecret(randomBytes(32), dir)).listAll(DEVICE_CONFIGS),
    ).rejects.toMatchObject({ code: 'graph_auth_failed' });

    await expect(clientFor(auto, dir, 'not-the-secret').listAll(DEVICE_CONFIGS)).rejects.toMatchObject({
      code: 'graph_auth_failed',
    });
    expect(await clientFor(auto, dir, secret).listAll(DEVICE_CONFIGS)).toHaveLength(4);
    await expect(clientFor(strict, dir, secret).listAll(DEVICE_CONFIGS)).rejects.toMatchObject({
      code: 'graph_auth_failed',
    });
  });

  it('honours fault times and clearFaults, and bounds the request log', async () => {
    const sim = await make({ defaultPolicyCount: 2, requestLogLimit: 10 });
    const dir = randomUUID();
    sim.registerTenant(dir, { clientId: 'app-1', clientSecret: 'secret-value-1234' });
    const client = new GraphClient({
      baseUrl: sim.url,
      directoryId: dir,
      clientId: 'app-1',
      clientSecret: 'secret-value-1234',
      maxRetries: 0,
    });
    sim.injectFault(dir, '*', { kind: 'error', status: 500, times: 2 });
    await expect(client.listAll(DEVICE_CONFIGS)).rejects.toMatchObject({
      code: 'graph_unavailable',
      status: 500,
    });
    await expect(client.listAll(DEVICE_CONFIGS)).rejects.toMatchObject({ status: 500 });
    expect(await client.listAll(DEVICE_CONFIGS)).toHaveLength(2);

    sim.injectFault(dir, 'deviceConfigurations', { kind: 'error', status: 403 });
    await expect(client.listAll(DEVICE_CONFIGS)).rejects.toMatchObject({ code: 'graph_forbidden' });
    expect(await client.listAll('/deviceAppManagement/managedAppPolicies')).toHaveLength(2);
    sim.clearFaults(dir);
    expect(await client.listAll(DEVICE_CONFIGS)).toHaveLength(2);

    for (let i = 0; i < 15; i++) await client.get(`${DEVICE_CONFIGS}?$top=1`);
    expect(sim.requestLog.length).toBeLessThanOrEqual(10);
    expect(sim.requestLog.at(-1)).toMatchObject({
      method: 'GET',
      path: `/v1.0${DEVICE_CONFIGS}`,
      status: 200,
    });
  });
});
