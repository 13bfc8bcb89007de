import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { AccessService } from '../../access/service.ts';
import type { OperationCatalog } from '../../ledger/catalog.ts';
import { caller } from '../auth.ts';
import {
  InvitationSchema,
  MemberSchema,
  PendingInvitationSchema,
  problems,
  RoleSchema,
  TenantParams,
  Uuid,
} from '../schemas.ts';
import type { StreamRegistry } from '../stream-registry.ts';

export type TenantRouteOptions = {
  access: AccessService;
  catalog: OperationCatalog;
  streams: StreamRegistry;
};

/** Tenants of the caller, the operation types, and memberships (owners only). */
export function registerTenantRoutes(
  root: FastifyInstance,
  { access, catalog, streams }: TenantRouteOptions,
) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    '/api/v1/tenants',
    {
      schema: {
        summary: 'The tenants the caller belongs to, with the caller’s role',
        tags: ['tenants'],
        response: {
          200: Type.Object({
            data: Type.Array(Type.Object({ id: Uuid, name: Type.String(), role: RoleSchema })),
          }),
          ...problems(401),
        },
      },
    },
    async (request) => ({ data: await access.tenantsOf(caller(request).userId) }),
  );

  app.get(
    '/api/v1/operation-types',
    {
      schema: {
        summary: 'Registered operation types, their labels and input schemas',
        tags: ['operations'],
        response: {
          200: Type.Object({
            data: Type.Array(
              Type.Object({
                type: Type.String(),
                label: Type.String(),
                inputSchema: Type.Record(Type.String(), Type.Unknown()),
                identityKeys: Type.Array(Type.String()),
                countKeys: Type.Array(Type.String()),
              }),
            ),
          }),
          ...problems(401),
        },
      },
    },
    async () => ({
      data: catalog.list().map((d) => ({
        type: d.name,
        label: d.label,
        // A plain JSON copy: TypeBox schemas carry symbol keys that are not part of the contract.
        inputSchema: JSON.parse(JSON.stringify(d.inputSchema)) as Record<string, unknown>,
        identityKeys: [...d.identityKeys],
        countKeys: [...d.countKeys],
      })),
    }),
  );

  const members = '/api/v1/tenants/:tenantId/members';
  const MemberParams = Type.Object({ tenantId: Type.String({ maxLength: 100 }), userId: Uuid });

  app.get(
    members,
    {
      config: { tenant: 'manage_members' },
      schema: {
        summary: 'Members of the tenant and their roles (owners only)',
        tags: ['members'],
        params: TenantParams,
        response: { 200: Type.Object({ data: Type.Array(MemberSchema) }), ...problems(401, 403, 404) },
      },
    },
    async (request) => ({ data: await access.listMembers(request.params.tenantId) }),
  );

  app.post(
    members,
    {
      config: { tenant: 'manage_members' },
      schema: {
        summary:
          'Invite an email to the tenant with a role (owners only); the person joins by accepting. The answer is the same whether or not the email belongs to anyone',
        tags: ['members'],
        params: TenantParams,
        body: Type.Object(
          { email: Type.String({ minLength: 3, maxLength: 320 }), role: RoleSchema },
          { additionalProperties: false },
        ),
        response: { 202: InvitationSchema, ...problems(400, 401, 403, 404, 413) },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await access.invite(
            request.params.tenantId,
            request.body.email,
            request.body.role,
            caller(request).userId,
          ),
        ),
  );

  const invitationsOf = '/api/v1/tenants/:tenantId/invitations';

  app.get(
    invitationsOf,
    {
      config: { tenant: 'manage_members' },
      schema: {
        summary:
          'Pending (unexpired) invitations of the tenant, newest first, with who sent each (owners only)',
        tags: ['members'],
        params: TenantParams,
        response: {
          200: Type.Object({ data: Type.Array(PendingInvitationSchema) }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request) => ({ data: await access.listInvitations(request.params.tenantId) }),
  );

  app.delete(
    `${invitationsOf}/:invitationId`,
    {
      config: { tenant: 'manage_members' },
      schema: {
        summary: 'Revoke a pending invitation (owners only)',
        tags: ['members'],
        params: Type.Object({ tenantId: Type.String({ maxLength: 100 }), invitationId: Uuid }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await access.revokeInvitation(request.params.tenantId, request.params.invitationId);
      return reply.code(204).send(null);
    },
  );

  const InvitationParams = Type.Object({ tenantId: Uuid });

  app.get(
    '/api/v1/me/invitations',
    {
      schema: {
        summary: 'Invitations waiting for the caller’s email',
        tags: ['members'],
        response: {
          200: Type.Object({
            data: Type.Array(Type.Object({ ...InvitationSchema.properties, tenantName: Type.String() })),
          }),
          ...problems(401),
        },
      },
    },
    async (request) => ({ data: await access.invitationsFor(caller(request).email) }),
  );

  app.post(
    '/api/v1/me/invitations/:tenantId/accept',
    {
      schema: {
        summary:
          'Accept an invitation: the caller joins the tenant with the invited role (409 when it has expired)',
        tags: ['members'],
        params: InvitationParams,
        response: { 200: MemberSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => access.acceptInvitation(caller(request), request.params.tenantId),
  );

  app.delete(
    '/api/v1/me/invitations/:tenantId',
    {
      schema: {
        summary: 'Decline an invitation',
        tags: ['members'],
        params: InvitationParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await access.declineInvitation(caller(request), request.params.tenantId);
      return reply.code(204).send(null);
    },
  );

  app.patch(
    `${members}/:userId`,
    {
      config: { tenant: 'manage_members' },
      schema: {
        summary: 'Change a member’s role; the last owner cannot be demoted (owners only)',
        tags: ['members'],
        params: MemberParams,
        body: Type.Object({ role: RoleSchema }, { additionalProperties: false }),
        response: { 200: MemberSchema, ...problems(400, 401, 403, 404, 409, 413) },
      },
    },
    async (request) => access.changeRole(request.params.tenantId, request.params.userId, request.body.role),
  );

  app.delete(
    `${members}/:userId`,
    {
      config: { tenant: 'manage_members' },
      schema: {
        summary: 'Remove a member; the last owner cannot be removed (owners only)',
        tags: ['members'],
        params: MemberParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await access.removeMember(request.params.tenantId, request.params.userId);
      streams.endMembership(request.params.tenantId.toLowerCase(), request.params.userId.toLowerCase());
      return reply.code(204).send(null);
    },
  );
}
