import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { SuiteReads } from '../../suite/reads.ts';
import { DateTime, problems, TenantParams, Uuid } from '../schemas.ts';

const Family = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });

const InventoryFamily = Type.Object({
  family: Type.String(),
  itemCount: Type.Integer(),
  lastSeenAt: Type.Union([DateTime, Type.Null()]),
});
const InventoryItem = Type.Object({
  family: Type.String(),
  externalId: Type.String(),
  displayName: Type.String(),
  odataType: Type.Union([Type.String(), Type.Null()]),
  firstSeenAt: DateTime,
  lastSeenAt: DateTime,
});
const BackupSetFields = {
  id: Uuid,
  name: Type.String(),
  scope: Type.Array(Type.String()),
  itemCount: Type.Integer(),
  runId: Type.Union([Uuid, Type.Null()]),
  createdAt: DateTime,
};
const BackupSet = Type.Object(BackupSetFields);
const BackupItem = Type.Object({
  family: Type.String(),
  externalId: Type.String(),
  displayName: Type.String(),
  odataType: Type.Union([Type.String(), Type.Null()]),
});
const DriftBaseline = Type.Object({
  ...BackupSetFields,
  lastGeneration: Type.Union([
    Type.Object({ runId: Uuid, createdAt: DateTime, outcome: Type.String() }),
    Type.Null(),
  ]),
});
const DriftFindings = Type.Object({
  baselineId: Uuid,
  runId: Type.Union([Uuid, Type.Null()]),
  generatedAt: Type.Union([DateTime, Type.Null()]),
  data: Type.Array(
    Type.Object({
      kind: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('modified')]),
      family: Type.String(),
      externalId: Type.String(),
      displayName: Type.String(),
      changedPaths: Type.Array(Type.String()),
    }),
  ),
});

const list = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Object({ data: Type.Array(item) });

/** What these routes need from the suite (src/suite/reads.ts's SuiteReads fits it); tenant-scoped. */
export type SuiteReadsApi = Pick<
  SuiteReads,
  'inventoryFamilies' | 'inventoryItems' | 'backupSets' | 'backupItems' | 'driftBaselines' | 'driftFindings'
>;

/** Read models of the suite's pages: inventory, backup sets and drift baselines with findings. */
export function registerSuiteReadRoutes(root: FastifyInstance, { reads }: { reads: SuiteReadsApi }) {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const t = '/api/v1/tenants/:tenantId';

  app.get(
    `${t}/inventory`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'Inventory per policy family: item count and last-seen time',
        tags: ['inventory'],
        params: TenantParams,
        response: { 200: list(InventoryFamily), ...problems(400, 401, 404) },
      },
    },
    async (request) => ({ data: await reads.inventoryFamilies(request.params.tenantId) }),
  );

  app.get(
    `${t}/inventory/items`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'Inventory items (at most 500), optionally of one family',
        tags: ['inventory'],
        params: TenantParams,
        querystring: Type.Object({ family: Type.Optional(Family) }, { additionalProperties: false }),
        response: { 200: list(InventoryItem), ...problems(400, 401, 404) },
      },
    },
    async (request) => ({
      data: await reads.inventoryItems(request.params.tenantId, request.query.family),
    }),
  );

  app.get(
    `${t}/backup-sets`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'Backup sets, newest first, with their item counts',
        tags: ['backups'],
        params: TenantParams,
        response: { 200: list(BackupSet), ...problems(400, 401, 404) },
      },
    },
    async (request) => ({ data: await reads.backupSets(request.params.tenantId) }),
  );

  app.get(
    `${t}/backup-sets/:backupSetId/items`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'The items of one backup set',
        tags: ['backups'],
        params: Type.Object({ tenantId: Type.String({ maxLength: 100 }), backupSetId: Uuid }),
        response: { 200: list(BackupItem), ...problems(400, 401, 404) },
      },
    },
    async (request) => ({
      data: await reads.backupItems(request.params.tenantId, request.params.backupSetId),
    }),
  );

  app.get(
    `${t}/drift/baselines`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'Drift baselines (backup sets) with their latest generation',
        tags: ['drift'],
        params: TenantParams,
        response: { 200: list(DriftBaseline), ...problems(400, 401, 404) },
      },
    },
    async (request) => ({ data: await reads.driftBaselines(request.params.tenantId) }),
  );

  app.get(
    `${t}/drift/baselines/:baselineId/findings`,
    {
      config: { tenant: 'read' },
      schema: {
        summary: 'The findings of the latest completed drift generation against a baseline',
        tags: ['drift'],
        params: Type.Object({ tenantId: Type.String({ maxLength: 100 }), baselineId: Uuid }),
        response: { 200: DriftFindings, ...problems(400, 401, 404) },
      },
    },
    async (request) => reads.driftFindings(request.params.tenantId, request.params.baselineId),
  );
}
