import Type from 'typebox';
import type { Database } from '../../db/database.ts';
import type { GraphConnections } from '../../graph/connections.ts';
import type { PolicyFamily } from '../../graph/families.ts';
import type { OperationTypeDefinition } from '../../ledger/catalog.ts';
import type { FailureEntry } from '../../ledger/run.ts';
import { toFailureEntry } from '../../shared/failures.ts';
import { inventoryLegacy, legacyWriter } from '../legacy/legacy.ts';
import { fetchFamily, normalizeScope, scopeSchema } from '../policies.ts';
import { describeInventorySync } from '../titles.ts';
import { inventoryRepository } from './repository.ts';

export type InventorySyncInputs = { scope: PolicyFamily[] };

export type SuiteTypeDeps = {
  database: Database;
  connections: GraphConnections;
  legacyWrites: boolean;
  /** Tests shorten the delay between attempts. */
  retryDelaySeconds?: number;
};

export const INVENTORY_COUNT_KEYS = ['created', 'updated', 'unchanged', 'deleted', 'failed'] as const;

/**
 * Pages every family of the scope through Graph and reconciles `inventory_items`. A family that
 * cannot be read (403, retries exhausted, a malformed page) is one failure entry and the run is
 * partial; its stored items are left as they were, since an unreadable family says nothing about
 * deletions. `failed` counts those families plus items Graph returned without a usable id.
 * When no family could be read the attempt fails, so the queue retries it.
 */
export function inventorySyncType(deps: SuiteTypeDeps): OperationTypeDefinition<InventorySyncInputs> {
  return {
    name: 'inventory.sync',
    label: 'Inventory sync',
    describe: describeInventorySync,
    inputSchema: Type.Object({ scope: scopeSchema() }, { additionalProperties: false }),
    identityKeys: ['scope'],
    countKeys: INVENTORY_COUNT_KEYS,
    timeoutSeconds: 1800,
    maxAttempts: 3,
    retryDelaySeconds: deps.retryDelaySeconds ?? 30,
    normalize: (inputs) => ({ ...inputs, scope: normalizeScope(inputs.scope) }),
    onRunWrite: legacyWriter(inventoryLegacy, deps.legacyWrites),
    async handler(ctx) {
      const { tenantId } = ctx.run;
      const scope = normalizeScope(ctx.inputs.scope);
      const client = await deps.connections.clientFor(tenantId, { log: ctx.log });
      const counts = { created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 };
      const failures: FailureEntry[] = [];
      for (const family of scope) {
        ctx.signal.throwIfAborted();
        let fetched: Awaited<ReturnType<typeof fetchFamily>>;
        try {
          fetched = await fetchFamily(client, family, ctx.signal);
        } catch (err) {
          if (ctx.signal.aborted) throw ctx.signal.reason;
          const entry = toFailureEntry(err, 'graph_error');
          failures.push({ code: entry.code, message: `${family}: ${entry.message}`, item: family });
          counts.failed++;
          ctx.logger.warn({ family, code: entry.code }, 'inventory family could not be read');
          ctx.log.event('item.failed', 'error', `${family} could not be read: ${entry.message}`, {
            item: family,
            code: entry.code,
          });
          continue;
        }
        const result = await deps.database.tenantTx(tenantId, (trx) =>
          inventoryRepository.reconcileFamily(trx, tenantId, family, fetched.items, new Date()),
        );
        counts.created += result.created;
        counts.updated += result.updated;
        counts.unchanged += result.unchanged;
        counts.deleted += result.deleted;
        counts.failed += fetched.invalid;
        await ctx.progress(counts);
        ctx.log.milestone(`${family}: ${fetched.items.length} policies read`, {
          item: family,
          created: result.created,
          updated: result.updated,
          unchanged: result.unchanged,
          deleted: result.deleted,
        });
      }
      if (failures.length === scope.length) {
        const err = new Error(`no policy family could be read: ${failures.map((f) => f.message).join('; ')}`);
        (err as { code?: string }).code = failures[0]?.code;
        throw err;
      }
      return failures.length > 0 ? { outcome: 'partially_succeeded', counts, failures } : { counts };
    },
  };
}
