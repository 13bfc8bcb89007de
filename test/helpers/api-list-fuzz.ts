import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './api-app.ts';
import { isProblem, LIST_FILTERS, nastyString, snapshot } from './api-fuzz.ts';
import { type HandlerLog, testTaskType } from './test-types.ts';

const RUNS = 1000;

/**
 * Fuzzes the given query parameters of the run list (`window` means the stats route): each with
 * RUNS random values, sometimes repeated or beside another parameter. A list may answer 200 or a
 * 4xx problem, never a 5xx, and nothing in the database may change.
 */
export function defineListFuzz(names: string[]): void {
  const log: HandlerLog = { started: [], aborted: [] };
  let h: ApiHarness;
  let tenant: string;
  let user: TestUser;
  let before: Record<string, unknown>;

  beforeAll(async () => {
    h = await startApiHarness({ definitions: [testTaskType(log)], worker: false });
    tenant = await h.ledger.createTenant('Fuzz');
    user = await h.user('fuzzer', { [tenant]: 'viewer' });
    for (let i = 0; i < 3; i++) {
      await h.ledger.service.start({
        tenantId: tenant,
        type: 'test.task',
        inputs: { key: `k${i}` },
        initiator: { kind: 'system' },
      });
    }
    await h.app.inject({ url: '/api/v1/me', headers: h.bearer(user) });
    before = await snapshot(h.ledger.database);
  });
  afterAll(async () => {
    await h?.stop();
  });

  describe('list query parameters under fuzz', () => {
    for (const name of names) {
      it(`?${name}= with ${RUNS} random values: 200 or 4xx problem JSON, never 5xx`, async () => {
        const path = name === 'window' ? 'operations/stats' : 'operations';
        let rejected = 0;
        await fc.assert(
          fc.asyncProperty(
            fc.array(nastyString(), { minLength: 1, maxLength: 2 }),
            fc.option(
              fc.tuple(fc.constantFrom(...LIST_FILTERS, 'foo', 'limit[]', '__proto__'), nastyString()),
              {
                freq: 4,
              },
            ),
            async (values, extra) => {
              const params = new URLSearchParams();
              for (const v of values) params.append(name, v);
              if (extra) params.append(extra[0], extra[1]);
              const res = await h.app.inject({
                url: `/api/v1/tenants/${tenant}/${path}?${params.toString()}`,
                headers: h.bearer(user),
              });
              expect(res.statusCode, res.body).toBeLessThan(500);
              if (res.statusCode !== 200) {
                expect([400, 404, 414, 431]).toContain(res.statusCode);
                expect(isProblem(res), res.body).toBe(true);
                rejected++;
              }
            },
          ),
          { numRuns: RUNS },
        );
        expect(rejected).toBeGreaterThan(RUNS / 2);
      });
    }

    it('changed nothing in the database', async () => {
      expect(await snapshot(h.ledger.database)).toEqual(before);
    });
  });
}
