import Type from 'typebox';
import { ROLES } from '../access/roles.ts';
import { INITIATOR_KINDS, RUN_OUTCOMES, RUN_STATUSES } from '../ledger/vocabulary.ts';

/** The API's shapes: one definition gives validation, types, serialisation and the OpenAPI document. */

export const enumOf = <T extends string>(values: readonly T[]) => Type.Enum([...values]);

export const Uuid = Type.String({ format: 'uuid', maxLength: 36 });
export const DateTime = Type.String({ format: 'date-time', maxLength: 64 });

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
);

export const RunSchema = Type.Object(
  {
    id: Uuid,
    number: Type.Integer({
      minimum: 1,
      format: 'int32',
      description: 'the run number in its tenant (#1, #2, …): unique in the tenant, never reused',
    }),
    tenantId: Uuid,
    type: Type.String(),
    typeLabel: Type.String(),
    title: Type.String({
      description: 'what the run is, in words, e.g. "Restore (dry run) of Nightly — 3 items"',
    }),
    tag: Type.Union([Type.String(), Type.Null()], { description: 'a short qualifier, e.g. "Dry run"' }),
    status: enumOf(RUN_STATUSES),
    outcome: enumOf(RUN_OUTCOMES),
    initiator: Type.Object({
      kind: enumOf(INITIATOR_KINDS),
      userId: Type.Union([Uuid, Type.Null()]),
      name: Type.String(),
    }),
    summaryCounts: Type.Record(Type.String(), Type.Integer()),
    failureSummary: Type.Array(
      Type.Object({
        code: Type.String({ description: 'a stable code, e.g. graph_forbidden' }),
        message: Type.String({ description: 'the full redacted message, up to 4,000 characters' }),
        attempt: Type.Optional(Type.Integer({ description: 'the attempt of the run it belongs to' })),
        item: Type.Optional(
          Type.String({ description: 'the item it concerns (a policy family, an item id)' }),
        ),
      }),
    ),
    failureGroups: Type.Array(Type.Object({ code: Type.String(), count: Type.Integer() }), {
      description: 'every failure the run reported, grouped by code, most frequent first',
    }),
    context: Type.Record(Type.String(), Type.Unknown()),
    source: Type.Union([Type.Object({ type: Type.String(), id: Type.String() }), Type.Null()]),
    retryOf: Type.Union([Uuid, Type.Null()]),
    attempts: Type.Integer(),
    createdAt: DateTime,
    startedAt: Type.Union([DateTime, Type.Null()]),
    completedAt: Type.Union([DateTime, Type.Null()]),
    durationMs: Type.Union([Type.Integer(), Type.Null()]),
    divergence: Type.Union([Type.Object({ detectedAt: DateTime, detail: Type.String() }), Type.Null()], {
      description:
        'set while a mirrored run disagrees with its domain record (found by the periodic mirror check); null otherwise',
    }),
  },
  { $id: 'Run' },
);

export const RoleSchema = enumOf(ROLES);

export const UserSchema = Type.Object({ id: Uuid, email: Type.String(), displayName: Type.String() });

export const MemberSchema = Type.Object({
  userId: Uuid,
  email: Type.String(),
  displayName: Type.String(),
  role: RoleSchema,
  createdAt: DateTime,
});

export const InvitationSchema = Type.Object({
  id: Uuid,
  tenantId: Uuid,
  email: Type.String({ maxLength: 320 }),
  role: RoleSchema,
  createdAt: DateTime,
  expiresAt: DateTime,
});

/** A pending invitation as the tenant's owners see it. */
export const PendingInvitationSchema = Type.Object({
  ...InvitationSchema.properties,
  invitedBy: Type.Union([Type.Object({ userId: Uuid, email: Type.String() }), Type.Null()]),
});

export const TokenSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  scope: Type.Union([Type.Literal('read'), Type.Literal('operate')]),
  createdAt: DateTime,
  lastUsedAt: Type.Union([DateTime, Type.Null()]),
  expiresAt: DateTime,
});

export const TenantParams = Type.Object({ tenantId: Type.String({ maxLength: 100 }) });
export const RunParams = Type.Object({ tenantId: Type.String({ maxLength: 100 }), runId: Uuid });

/** Error responses documented on every route; the bodies come from the one error handler. */
export function problems(...codes: number[]) {
  return Object.fromEntries(
    codes.map((c) => [
      c,
      {
        description: `problem details (${c})`,
        content: { 'application/problem+json': { schema: Type.Ref('Problem') } },
      },
    ]),
  );
}
