import fc from 'fast-check';
import { anyJson, nastyString } from './helpers/api-fuzz.ts';
import { bodyOf, defineWriteFuzz, segment } from './helpers/api-write-fuzz.ts';

const SCOPES = ['read', 'operate'];

// The caller's own credentials: tokens, the password, signing out everywhere. All signed in, as
// only a session may make or end credentials (a token is refused before its body is read).
defineWriteFuzz([
  {
    name: 'POST /api/v1/me/tokens',
    via: 'session',
    runs: 300,
    request: (w) =>
      bodyOf(
        fc.record(
          {
            name: fc.oneof(anyJson(), fc.constant(''), fc.string({ minLength: 101, maxLength: 1000 })),
            scope: fc.oneof(anyJson(), fc.constantFrom('read', 'operate', 'admin', 'READ')),
            expiresInDays: fc.oneof(anyJson(), fc.integer({ min: -5, max: 100_000 })),
            password: fc.oneof(anyJson(), nastyString(), fc.constant(w.owner.password)),
          },
          { requiredKeys: [] },
        ),
      ).map((b) => ({ method: 'POST', url: '/api/v1/me/tokens', ...b })),
    valid: (w, req) => {
      const b = req.body as Record<string, unknown> | undefined;
      const days = b?.expiresInDays;
      return (
        typeof b?.name === 'string' &&
        b.name.trim().length > 0 &&
        b.name.length <= 100 &&
        b.password === w.owner.password &&
        (b.scope === undefined || SCOPES.includes(b.scope as string)) &&
        (days === undefined ||
          (Number.isInteger(days) && (days as number) >= 1 && (days as number) <= 365)) &&
        Object.keys(b).every((k) => ['name', 'scope', 'expiresInDays', 'password'].includes(k))
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
  {
    name: 'POST /api/v1/me/password',
    via: 'session',
    runs: 150,
    request: (w) =>
      bodyOf(
        fc.record(
          {
            currentPassword: fc.oneof(anyJson(), nastyString(), fc.constant(w.owner.password)),
            newPassword: fc.oneof(anyJson(), nastyString(), fc.constant('short')),
          },
          { requiredKeys: [] },
        ),
      ).map((b) => ({ method: 'POST', url: '/api/v1/me/password', ...b })),
    // A right current password with a strong new one would change it: never generated whole.
    valid: (w, req) => {
      const b = req.body as Record<string, unknown> | undefined;
      return (
        b?.currentPassword === w.owner.password &&
        typeof b?.newPassword === 'string' &&
        b.newPassword.length >= 12
      );
    },
  },
  {
    name: 'POST /api/v1/auth/logout-everywhere',
    via: 'session',
    runs: 150,
    request: () =>
      bodyOf(fc.record({ password: fc.oneof(anyJson(), nastyString()) }, { requiredKeys: [] })).map((b) => ({
        method: 'POST',
        url: '/api/v1/auth/logout-everywhere',
        ...b,
      })),
  },
]);
