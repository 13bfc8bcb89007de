import fc from 'fast-check';
import { isEmail } from '../src/access/service.ts';
import { anyJson, nastyString } from './helpers/api-fuzz.ts';
import { bodyOf, defineWriteFuzz, segment } from './helpers/api-write-fuzz.ts';

const members = (tenant: string) => `/api/v1/tenants/${tenant}/members`;
const role = () => fc.oneof(nastyString(), anyJson(), fc.constantFrom('OWNER', 'admin', 'owner ', ''));

defineWriteFuzz(
  [
    {
      name: 'POST …/members',
      via: 'session',
      request: (w) =>
        bodyOf(
          fc.record(
            {
              email: fc.oneof(nastyString(), anyJson(), fc.constant(w.other.email)),
              role: fc.oneof(role(), fc.constantFrom('owner', 'viewer')),
            },
            { requiredKeys: [] },
          ),
        ).map((b) => ({ method: 'POST', url: members(w.tenant), ...b })),
      valid: (_w, req) => {
        const b = req.body as { email?: unknown; role?: unknown } | undefined;
        return (
          typeof b?.email === 'string' &&
          isEmail(b.email) &&
          ['owner', 'operator', 'viewer'].includes(b.role as string) &&
          Object.keys(b).length === 2
        );
      },
    },
    {
      name: 'PATCH …/members/{userId}',
      via: 'session',
      request: (w) =>
        fc
          .tuple(
            fc.oneof(segment(), fc.uuid().map(String), fc.constant(w.owner.id)),
            bodyOf(fc.record({ role: role() })),
          )
          .map(([id, b]) => ({ method: 'PATCH', url: `${members(w.tenant)}/${id}`, ...b })),
    },
    {
      name: 'DELETE …/members/{userId}',
      via: 'session',
      request: (w) =>
        fc
          .oneof(segment(), fc.uuid().map(String), fc.constant(w.other.id))
          .map((id) => ({ method: 'DELETE', url: `${members(w.tenant)}/${id}` })),
    },
    {
      name: 'DELETE …/invitations/{invitationId}',
      via: 'session',
      request: (w) =>
        fc
          .oneof(segment(), fc.uuid().map(String))
          .map((id) => ({ method: 'DELETE', url: `/api/v1/tenants/${w.tenant}/invitations/${id}` })),
    },
    {
      name: 'POST …/restore-runs',
      request: (w) =>
        bodyOf(
          fc.record(
            {
              backupId: fc.oneof(nastyString(), anyJson(), fc.uuid().map(String)),
              items: fc.oneof(anyJson(), fc.array(nastyString(), { maxLength: 3 })),
              dryRun: anyJson(),
            },
            { requiredKeys: [] },
          ),
        ).map((b) => ({ method: 'POST', url: `/api/v1/tenants/${w.tenant}/restore-runs`, ...b })),
    },
  ],
  { withRestore: true },
);
