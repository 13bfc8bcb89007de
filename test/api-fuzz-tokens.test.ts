import fc from 'fast-check';
import { anyJson } from './helpers/api-fuzz.ts';
import { bodyOf, defineWriteFuzz, segment } from './helpers/api-write-fuzz.ts';

// The caller's API tokens.
defineWriteFuzz([
  {
    name: 'POST /api/v1/me/tokens',
    request: () =>
      bodyOf(
        fc.record(
          { name: fc.oneof(anyJson(), fc.constant(''), fc.string({ minLength: 101, maxLength: 1000 })) },
          { requiredKeys: [] },
        ),
      ).map((b) => ({ method: 'POST', url: '/api/v1/me/tokens', ...b })),
    valid: (_w, req) => {
      const b = req.body as { name?: unknown } | undefined;
      return (
        typeof b?.name === 'string' &&
        b.name.trim().length > 0 &&
        b.name.length <= 100 &&
        Object.keys(b).length === 1
      );
    },
  },
  {
    name: 'DELETE /api/v1/me/tokens/{id}',
    request: () =>
      fc
        .oneof(segment(), fc.uuid().map(String))
        .map((id) => ({ method: 'DELETE', url: `/api/v1/me/tokens/${id}` })),
  },
]);
