import Type from 'typebox';
import { uuidv7 } from 'uuidv7';
import type { GraphClient } from '../../graph/client.ts';
import type { PolicyFamily } from '../../graph/families.ts';
import type { OperationTypeDefinition } from '../../ledger/catalog.ts';
import type { SuiteTypeDeps } from '../inventory/sync.ts';
import { type FetchedPolicy, fetchFamily, normalizeScope, scopeSchema } from '../policies.ts';
import { describeBackupCreate } from '../titles.ts';
import { backupRepository } from './repository.ts';

export type BackupCreateInputs = { name: string; scope: PolicyFamily[] };

/** Reads every family of the scope; any family that cannot be read fails the whole snapshot. */
export async function snapshotFamilies(
  client: GraphClient,
  scope: readonly PolicyFamily[],
  signal?: AbortSignal,
): Promise<{ family: string; policy: FetchedPolicy }[]> {
  const items: { family: string; policy: FetchedPolicy }[] = [];
  for (const family of scope) {
    const { items: policies } = await fetchFamily(client, family, signal);
    for (const policy of policies) items.push({ family, policy });
  }
  return items;
}

/**
 * Snapshots policies into a backup set. A backup missing a family would later read as "everything
 * of that family was added" in drift and could not restore it, so it is all or nothing: a family
 * that cannot be read fails the attempt, and the queue retries it.
 */
export function backupCreateType(deps: SuiteTypeDeps): OperationTypeDefinition<BackupCreateInputs> {
  return {
    name: 'backup.create',
    label: 'Backup',
    describe: describeBackupCreate,
    inputSchema: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 200, default: 'Backup' }),
        scope: scopeSchema(),
      },
      { additionalProperties: false },
    ),
    // A backup under another name is another backup, even of the same scope.
    identityKeys: ['name', 'scope'],
    countKeys: ['items', 'families'],
    timeoutSeconds: 1800,
    maxAttempts: 3,
    retryDelaySeconds: deps.retryDelaySeconds ?? 30,
    normalize: (inputs) => ({
      ...inputs,
      name: inputs.name.trim() || 'Backup',
      scope: normalizeScope(inputs.scope),
    }),
    async handler(ctx) {
      const { tenantId } = ctx.run;
      const scope = normalizeScope(ctx.inputs.scope);
      const client = await deps.connections.clientFor(tenantId, { log: ctx.log });
      const items = await snapshotFamilies(client, scope, ctx.signal);
      ctx.signal.throwIfAborted();
      const set = await deps.database.tenantTx(tenantId, (trx) =>
        backupRepository.createSet(
          trx,
          tenantId,
          { id: uuidv7(), name: ctx.inputs.name, scope, runId: ctx.run.id },
          items,
        ),
      );
      return { counts: { items: items.length, families: scope.length }, links: { backupSetId: set.id } };
    },
  };
}
