import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { isProblem, nastyString } from './helpers/api-fuzz.ts';
import { segment } from './helpers/api-write-fuzz.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const RUNS = 300;
const log: HandlerLog = { started: [], aborted: [] };
let h: ApiHarness;
let tenant: string;
let owner: TestUser;
let setId: string;

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType(log)], worker: false, withRestore: true });
  tenant = await h.ledger.createTenant('Reads');
  owner = await h.user('owner', { [tenant]: 'owner' });
  setId = randomUUID();
  await sql`insert into backup_sets (id, tenant_id, name, scope, item_count) values (${setId}, ${tenant}, 'S', '["deviceConfigurations"]', 1)`.execute(
    h.ledger.database.db,
  );
  await sql`insert into backup_items (tenant_id, backup_set_id, family, external_id, display_name, payload, payload_hash)
            values (${tenant}, ${setId}, 'deviceConfigurations', 'p1', 'Policy one', '{}', 'h')`.execute(
    h.ledger.database.db,
  );
});
afterAll(async () => {
  await h?.stop();
});

const base = () => `/api/v1/tenants/${tenant}`;
const get = (url: string) => h.app.inject({ url, headers: h.bearer(owner) });

describe('suite read routes', () => {
  it('answer with the tenant’s data', async () => {
    const sets = await get(`${base()}/backup-sets`);
    expect(sets.json().data).toEqual([
      expect.objectContaining({ id: setId, name: 'S', itemCount: 1, runId: null }),
    ]);
    const items = await get(`${base()}/backup-sets/${setId}/items`);
    expect(items.json().data).toEqual([
      { family: 'deviceConfigurations', externalId: 'p1', displayName: 'Policy one', odataType: null },
    ]);
    const baselines = await get(`${base()}/drift/baselines`);
    expect(baselines.json().data).toEqual([expect.objectContaining({ id: setId, lastGeneration: null })]);
    const findings = await get(`${base()}/drift/baselines/${setId}/findings`);
    expect(findings.json()).toEqual({ baselineId: setId, runId: null, generatedAt: null, data: [] });
    expect((await get(`${base()}/inventory`)).json()).toEqual({ data: [] });
    expect((await get(`${base()}/inventory/items?family=deviceConfigurations`)).json()).toEqual({ data: [] });
  });

  const routes: [string, () => fc.Arbitrary<string>][] = [
    ['GET …/backup-sets/{backupSetId}/items', () => segment().map((s) => `${base()}/backup-sets/${s}/items`)],
    [
      'GET …/drift/baselines/{baselineId}/findings',
      () => segment().map((s) => `${base()}/drift/baselines/${s}/findings`),
    ],
    [
      'GET …/inventory/items?family=',
      () =>
        fc
          .tuple(fc.constantFrom('family', 'bogus', 'limit'), nastyString())
          .map(([k, v]) => `${base()}/inventory/items?${k}=${encodeURIComponent(v.toWellFormed())}`),
    ],
  ];
  for (const [name, arb] of routes) {
    it(`${name}: ${RUNS} random requests, each a 200 or a 4xx problem JSON, never a 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constant(null).chain(() => arb()),
          async (url) => {
            const res = await get(url);
            if (res.statusCode === 200) return;
            expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
            expect(res.statusCode, url).toBeLessThan(500);
            expect(isProblem(res), url).toBe(true);
          },
        ),
        { numRuns: RUNS },
      );
    });
  }
});
