import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { NotFoundError } from '../../shared/errors.ts';
import { problems, TenantParams, Uuid } from '../schemas.ts';

/** What these routes need of the tenant's Graph connection (src/operations' GraphConnections fits). */
export type GraphConnectionView = {
  tenantId: string;
  directoryId: string;
  clientId: string;
  graphUrl: string | null;
  hasSecret: boolean;
  updatedAt: string;
};

export interface GraphConnectionApi {
  get(tenantId: string): Promise<GraphConnectionView | null>;
  set(
    tenantId: string,
    input: { directoryId: string; clientId: string; clientSecret: string },
  ): Promise<GraphConnectionView>;
}

// The secret goes in and never comes out: not even encrypted, only that one is stored.
const ConnectionView = Type.Object({
  tenantId: Uuid,
  directoryId: Type.String(),
  clientId: Type.String(),
  graphUrl: Type.Union([Type.String(), Type.Null()]),
  hasSecret: Type.Boolean(),
  updatedAt: Type.String({ format: 'date-time' }),
});

export function registerGraphConnectionRoutes(
  root: FastifyInstance,
  { connections }: { connections: GraphConnectionApi },
) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const path = '/api/v1/tenants/:tenantId/graph-connection';

  app.get(
    path,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'The tenant’s Graph connection, without its secret (404 when none is set)',
        tags: ['graph'],
        params: TenantParams,
        response: { 200: ConnectionView, ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const view = await connections.get(request.params.tenantId);
      if (!view) throw new NotFoundError('no Graph connection is set for this tenant');
      return view;
    },
  );

  app.put(
    path,
    {
      config: { tenant: 'manage_members' },
      schema: {
        summary:
          'Sets the tenant’s Graph app registration (owners only). The client secret is encrypted at rest and never returned. The Graph URL is the server’s GRAPH_URL.',
        tags: ['graph'],
        params: TenantParams,
        body: Type.Object(
          {
            directoryId: Uuid,
            clientId: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9._-]+$' }),
            clientSecret: Type.String({ minLength: 1, maxLength: 1000 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: ConnectionView, ...problems(400, 401, 403, 404, 413) },
      },
    },
    async (request) => connections.set(request.params.tenantId, request.body),
  );
}
