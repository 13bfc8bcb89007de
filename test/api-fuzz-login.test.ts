import fc from 'fast-check';
import { anyJson, nastyString } from './helpers/api-fuzz.ts';
import { bodyOf, defineWriteFuzz } from './helpers/api-write-fuzz.ts';

// A file of its own: a well-formed sign-in pays for one scrypt, which makes this the slow route.
defineWriteFuzz([
  {
    name: 'POST /api/v1/auth/login',
    request: (w) =>
      fc
        .oneof(
          {
            weight: 8,
            arbitrary: bodyOf(fc.record({ email: anyJson(), password: anyJson() }, { requiredKeys: [] })),
          },
          {
            weight: 1,
            arbitrary: fc
              .record({ email: fc.oneof(nastyString(), fc.constant(w.owner.email)), password: nastyString() })
              .map((body) => ({ body })),
          },
        )
        .map((b) => ({ method: 'POST', url: '/api/v1/auth/login', ...b })),
    valid: (w, req) => (req.body as { password?: unknown } | undefined)?.password === w.owner.password,
  },
]);
