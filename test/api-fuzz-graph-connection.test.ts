import fc from 'fast-check';
import { anyJson, nastyString } from './helpers/api-fuzz.ts';
import { bodyOf, defineWriteFuzz } from './helpers/api-write-fuzz.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

defineWriteFuzz(
  [
    {
      name: 'PUT …/graph-connection',
      request: (w) =>
        bodyOf(
          fc.record(
            {
              directoryId: fc.oneof(nastyString(), anyJson(), fc.uuid().map(String)),
              clientId: fc.oneof(nastyString(), anyJson(), fc.constant('app')),
              clientSecret: fc.oneof(nastyString(), anyJson(), fc.constant('')),
              graphUrl: fc.oneof(nastyString(), fc.constant('http://169.254.169.254/')),
            },
            { requiredKeys: [] },
          ),
        ).map((b) => ({ method: 'PUT', url: `/api/v1/tenants/${w.tenant}/graph-connection`, ...b })),
      valid: (_w, req) => {
        const b = req.body as Record<string, unknown> | undefined;
        return (
          typeof b?.directoryId === 'string' &&
          UUID.test(b.directoryId) &&
          typeof b.clientId === 'string' &&
          /^[A-Za-z0-9._-]{1,100}$/.test(b.clientId) &&
          typeof b.clientSecret === 'string' &&
          b.clientSecret.length >= 1 &&
          b.clientSecret.length <= 1000 &&
          Object.keys(b).length === 3
        );
      },
    },
  ],
  { withRestore: true },
);
