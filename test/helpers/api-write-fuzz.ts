import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, type TestUser } from './api-app.ts';
import { anyJson, isProblem, nastyString, snapshot } from './api-fuzz.ts';
import { type HandlerLog, testTaskType } from './test-types.ts';

const RUNS = 1000;

export type FuzzWorld = {
  h: ApiHarness;
  tenant: string;
  owner: TestUser;
  other: TestUser;
  runId: string;
  /** The owner's signed-in session (cookie and CSRF headers). */
  ownerSession: Record<string, string>;
};

export type WriteRoute = {
  name: string;
  /** A random request; `raw` bodies are sent as they are with a JSON content type. */
  request: (w: FuzzWorld) => fc.Arbitrary<{ method: string; url: string; body?: unknown; raw?: string }>;
  /** True when the generated request happens to be a valid one (it is then skipped). */
  valid?: (w: FuzzWorld, req: { url: string; body?: unknown }) => boolean;
  /**
   * How the owner calls: by API token (the default) or signed in, for the routes a token may never
   * use (members, invitations, making credentials), where a token would be refused before its
   * body is even looked at.
   */
  via?: 'token' | 'session';
  /**
   * Requests to send (RUNS unless said): routes that check a password pay for one scrypt per
   * well-shaped request, so they take fewer.
   */
  runs?: number;
};

/** A path segment from the fuzzer: ids of the wrong shape, traversal, SQL, unicode. */
export const segment = () => nastyString().map((s) => encodeURIComponent(s.toWellFormed()));

/** A body: random JSON, non-JSON text, or a near-miss of the route's shape built by `shaped`. */
export function bodyOf(shaped: fc.Arbitrary<unknown>) {
  return fc.oneof(
    { weight: 3, arbitrary: anyJson().map((body) => ({ body })) },
    { weight: 1, arbitrary: nastyString().map((raw) => ({ raw })) },
    { weight: 4, arbitrary: shaped.map((body) => ({ body })) },
  );
}

/**
 * For each route, RUNS random requests (skipping the rare valid one): every answer must be a 4xx
 * problem JSON, never a 5xx, and the database must be exactly as it was when all have run.
 */
export function defineWriteFuzz(routes: WriteRoute[], options: { withRestore?: boolean } = {}): void {
  const log: HandlerLog = { started: [], aborted: [] };
  const w = {} as FuzzWorld;
  let before: Record<string, unknown>;

  beforeAll(async () => {
    w.h = await startApiHarness({
      definitions: [testTaskType(log)],
      worker: false,
      withRestore: options.withRestore,
    });
    w.tenant = await w.h.ledger.createTenant('Fuzz');
    w.owner = await w.h.user('owner', { [w.tenant]: 'owner' });
    w.other = await w.h.user('other');
    const started = await w.h.ledger.service.start({
      tenantId: w.tenant,
      type: 'test.task',
      inputs: { key: 'fuzz' },
      initiator: { kind: 'system' },
    });
    w.runId = started.run.id;
    await w.h.app.inject({ url: '/api/v1/me', headers: w.h.bearer(w.owner) });
    w.ownerSession = await w.h.session(w.owner);
    before = await snapshot(w.h.ledger.database);
  });
  afterAll(async () => {
    await w.h?.stop();
  });

  describe('write routes under fuzz', () => {
    for (const route of routes) {
      const runs = route.runs ?? RUNS;
      it(`${route.name}: ${runs} random requests, each a 4xx problem JSON`, async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.constant(null).chain(() => route.request(w)),
            async (req) => {
              fc.pre(!route.valid?.(w, req));
              const headers: Record<string, string> =
                route.via === 'session' ? { ...w.ownerSession } : { ...w.h.bearer(w.owner) };
              let payload: string | undefined;
              if (req.raw !== undefined) {
                payload = req.raw;
                headers['content-type'] = 'application/json';
              } else if (req.body !== undefined) {
                payload = JSON.stringify(req.body);
                headers['content-type'] = 'application/json';
              }
              const res = await w.h.app.inject({
                method: req.method as 'POST',
                url: req.url,
                headers,
                payload,
              });
              expect(
                res.statusCode,
                `${req.method} ${req.url} ${payload?.slice(0, 200)} → ${res.body}`,
              ).toBeGreaterThanOrEqual(400);
              expect(res.statusCode, res.body).toBeLessThan(500);
              expect(isProblem(res), res.body).toBe(true);
            },
          ),
          { numRuns: runs },
        );
      });
    }

    it('changed nothing in the database', async () => {
      expect(await snapshot(w.h.ledger.database)).toEqual(before);
    });
  });
}
