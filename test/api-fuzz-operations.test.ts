import fc from 'fast-check';
import { anyJson, nastyString } from './helpers/api-fuzz.ts';
import { bodyOf, defineWriteFuzz, segment } from './helpers/api-write-fuzz.ts';

const ops = (tenant: string) => `/api/v1/tenants/${tenant}/operations`;

defineWriteFuzz([
  {
    name: 'POST …/operations (start)',
    request: (w) =>
      bodyOf(
        fc.oneof(
          fc.record({ type: fc.oneof(nastyString(), anyJson()), inputs: anyJson() }, { requiredKeys: [] }),
          fc.record({
            type: fc.constant('test.task'),
            inputs: fc.record(
              {
                key: fc.oneof(anyJson(), fc.constant(''), fc.string({ minLength: 101, maxLength: 300 })),
                failTimes: fc.oneof(anyJson(), fc.integer({ min: -1000, max: 1000 })),
                sleepMs: fc.oneof(nastyString(), fc.double()),
                bogus: anyJson(),
              },
              { requiredKeys: ['key'] },
            ),
          }),
          fc.record({ type: fc.constant('test.task'), inputs: fc.constant({ key: 'x' }), extra: anyJson() }),
        ),
      ).map((b) => ({ method: 'POST', url: ops(w.tenant), ...b })),
    valid: (w, req) => {
      const body = req.body as { type?: unknown; inputs?: unknown } | undefined;
      if (!body || typeof body !== 'object' || Array.isArray(body) || body.type !== 'test.task') return false;
      if (Object.keys(body).some((k) => k !== 'type' && k !== 'inputs')) return false;
      try {
        w.h.ledger.catalog.parseInputs('test.task', body.inputs);
        return true;
      } catch {
        return false;
      }
    },
  },
  {
    name: 'POST …/operations/{runId}/cancel',
    request: (w) =>
      fc.tuple(segment(), fc.option(anyJson())).map(([id, body]) => ({
        method: 'POST',
        url: `${ops(w.tenant)}/${id}/cancel`,
        body: body ?? undefined,
      })),
    valid: (w, req) => req.url.toLowerCase().includes(w.runId),
  },
  {
    name: 'POST …/operations/{runId}/retry',
    request: (w) =>
      fc.tuple(fc.oneof(segment(), fc.uuid().map(String)), fc.option(anyJson())).map(([id, body]) => ({
        method: 'POST',
        url: `${ops(w.tenant)}/${id}/retry`,
        body: body ?? undefined,
      })),
  },
]);
