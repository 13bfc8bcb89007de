import Type from 'typebox';
import { uuidv7 } from 'uuidv7';
import type { Database, Trx } from '../../db/database.ts';
import type { GraphClient } from '../../graph/client.ts';
import type { GraphConnections } from '../../graph/connections.ts';
import { isGraphError } from '../../graph/errors.ts';
import { isPolicyFamily, policyFamilyPath } from '../../graph/families.ts';
import type { OperationContext, OperationTypeDefinition, RunWriteHook } from '../../ledger/catalog.ts';
import type { RunRow } from '../../ledger/run.ts';
import { RunCancelledError } from '../../ledger/run-errors.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { toFailureEntry } from '../../shared/failures.ts';
import { backupRepository } from '../backup/repository.ts';
import { changedPaths, configurationOf, UUID_PATTERN } from '../policies.ts';
import { describeRestore } from '../titles.ts';
import { RESTORE_COUNT_KEYS, RESTORE_RUN_TYPE } from './mirror.ts';
import { checkRestoreMirrors } from './mirror-check.ts';
import { type ItemOutcome, isTerminal, type RestoreRunRow, restoreRepository } from './repository.ts';
import { restoreRetryInputs } from './retry.ts';
import type { RestoreStatus } from './tables.ts';

export type RestoreExecuteInputs = { backupId: string; items?: string[]; dryRun: boolean };

export type RestoreTypeDeps = {
  database: Database;
  connections: GraphConnections;
  retryDelaySeconds?: number;
};

/** Item results are written (and mirrored) in batches: progress shows without a transaction per item. */
const FLUSH_EVERY = 10;

/**
 * How a restore record and its operation run relate: starting `restore.execute` (from the generic
 * operations API or RestoreRunService) inserts the run; this hook, in the same transaction, creates
 * the restore record naming that run, and the record's mirror trigger (migration 0004) makes the run
 * its mirror. From then on the record is the source of truth: every write of it, by the executor
 * here or by any other writer, is mirrored by the trigger in the writer's transaction. When the
 * ledger finishes the run without the executor (cancelled while queued, attempts exhausted, worker
 * lost), the record follows the ledger here.
 */
function restoreRunWrite(): RunWriteHook {
  return async (trx, run) => {
    if (run.status === 'queued' && run.source_type === null) {
      const inputs = (run.context as { inputs: RestoreExecuteInputs }).inputs;
      await restoreRepository.insert(trx, {
        id: uuidv7(),
        tenantId: run.tenant_id,
        backupSetId: inputs.backupId,
        dryRun: inputs.dryRun,
        requestedItems: inputs.items ?? null,
        initiator: { kind: run.initiator_kind, userId: run.initiator_user_id, name: run.initiator_name },
        operationRunId: run.id,
        retryOf: await retriedRestore(trx, run),
      });
      return;
    }
    if (run.status === 'completed') await followLedger(trx, run);
  };
}

/** The restore a retried run retries: named by the restore-runs API, or the record of the run retried. */
async function retriedRestore(trx: Trx, run: RunRow): Promise<string | null> {
  const named = (run.context as { links?: { retryOfRestoreRunId?: unknown } }).links?.retryOfRestoreRunId;
  if (typeof named === 'string') return named;
  if (!run.retry_of_run_id) return null;
  return (await restoreRepository.findByRun(trx, run.tenant_id, run.retry_of_run_id))?.id ?? null;
}

async function followLedger(trx: Trx, run: RunRow): Promise<void> {
  const restore = await restoreRepository.findByRun(trx, run.tenant_id, run.id);
  if (!restore || isTerminal(restore.status)) return;
  const status: RestoreStatus =
    run.outcome === 'cancelled'
      ? 'cancelled'
      : run.outcome === 'succeeded'
        ? 'completed'
        : run.outcome === 'partially_succeeded'
          ? 'completed_with_errors'
          : 'failed';
  const error = run.failure_summary?.[0] ?? {
    code: 'restore_stopped',
    message: `the run ended ${run.outcome}`,
  };
  await restoreRepository.skipPending(trx, run.tenant_id, restore.id);
  // The mirror is this completed run and cannot change again (the trigger's apply is a no-op).
  await restoreRepository.transition(trx, run.tenant_id, restore.id, {
    status,
    error: status === 'cancelled' ? null : error,
  });
}

export function restoreExecuteType(deps: RestoreTypeDeps): OperationTypeDefinition<RestoreExecuteInputs> {
  return {
    name: RESTORE_RUN_TYPE,
    label: 'Restore',
    describe: describeRestore,
    inputSchema: Type.Object(
      {
        backupId: Type.String({ pattern: UUID_PATTERN }),
        items: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 10_000 })),
        dryRun: Type.Boolean({ default: false }),
      },
      { additionalProperties: false },
    ),
    // A dry run and a real restore, or restores of different items, are different work.
    identityKeys: ['backupId', 'dryRun', 'items'],
    countKeys: RESTORE_COUNT_KEYS,
    timeoutSeconds: 3600,
    maxAttempts: 3,
    retryDelaySeconds: deps.retryDelaySeconds ?? 30,
    normalize: (inputs) => ({
      ...inputs,
      backupId: inputs.backupId.toLowerCase(),
      ...(inputs.items ? { items: [...new Set(inputs.items)].sort() } : {}),
    }),
    // The same door as the restore-runs API: an unknown backup (or another tenant's) is refused
    // before any run exists.
    async validate(trx, { tenantId, inputs }) {
      const set = await backupRepository.getSet(trx, tenantId, inputs.backupId);
      if (!set) throw new NotFoundError('backup not found');
      return { backupName: set.name };
    },
    // A retry through the operations API restores exactly what the record restored, whoever wrote
    // it (or is refused when that is unknown); the new record is linked to this one
    // (restoreRunWrite finds it through the retried mirror).
    async retryInputs(trx, mirror) {
      const record = mirror.source_id
        ? await restoreRepository.get(trx, mirror.tenant_id, mirror.source_id)
        : null;
      if (!record) {
        throw new ConflictError(
          'the restore record of this run no longer exists; start a new restore instead',
        );
      }
      return restoreRetryInputs(trx, record, mirror);
    },
    // Records of any writer are held against their mirrors periodically by the worker.
    checkMirrors: () => checkRestoreMirrors(deps.database),
    onRunWrite: restoreRunWrite(),
    handler: (ctx) => execute(deps, ctx),
  };
}

async function execute(deps: RestoreTypeDeps, ctx: OperationContext<RestoreExecuteInputs>) {
  const { tenantId } = ctx.run;
  const tx = <T>(fn: (trx: Trx) => Promise<T>) => deps.database.tenantTx(tenantId, fn);
  const restore = await tx((trx) => restoreRepository.findByRun(trx, tenantId, ctx.run.id));
  if (!restore) throw new Error('this run has no restore record');
  if (isTerminal(restore.status)) return {};
  const id = restore.id;
  const finish = (status: RestoreStatus, error?: { code: string; message: string }) =>
    tx(async (trx) => {
      if (status === 'cancelled' || error) await restoreRepository.skipPending(trx, tenantId, id, error);
      await restoreRepository.transition(trx, tenantId, id, { status, ...(error ? { error } : {}) });
    });

  if (restore.status === 'pending') {
    const prepared = await tx(async (trx) => prepare(trx, restore));
    if (!prepared) {
      await finish('failed', { code: 'backup_not_found', message: 'the backup set does not exist' });
      return {};
    }
  }

  let client: GraphClient;
  try {
    // Throttling waits and retries of the Graph client go to the run's event log.
    client = await deps.connections.clientFor(tenantId, { log: ctx.log });
  } catch (err) {
    await finish('failed', toFailureEntry(err, 'graph_not_connected'));
    return {};
  }
  const items = (await tx((trx) => restoreRepository.listItems(trx, tenantId, id))).filter(
    (i) => i.result === 'pending',
  );
  const payloads = new Map(
    (
      await tx((trx) =>
        backupRepository.listItems(
          trx,
          tenantId,
          restore.backup_set_id,
          items.map((i) => i.external_id),
        ),
      )
    ).map((b) => [`${b.family}\u0000${b.external_id}`, b.payload]),
  );
  let buffer: ItemOutcome[] = [];
  let done = 0;
  const flush = async () => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    await tx(async (trx) => {
      await restoreRepository.recordItems(trx, tenantId, id, batch);
      await restoreRepository.transition(trx, tenantId, id, {});
    });
    done += batch.length;
    ctx.log.milestone(`${done} of ${items.length} items ${restore.dry_run ? 'compared' : 'restored'}`, {
      done,
      total: items.length,
    });
  };
  // Each failed item in the run's event log, in order: the item, its code and its message. After a
  // rejected credential the rest fail the same way, and one event says so instead of one each.
  const itemFailed = (
    item: { family: string; external_id: string },
    error: { code: string; message: string },
  ) =>
    ctx.log.event('item.failed', 'error', `${item.family}/${item.external_id}: ${error.message}`, {
      family: item.family,
      item: item.external_id,
      code: error.code,
    });
  let authFailure: { code: string; message: string } | null = null;
  for (const item of items) {
    if (ctx.signal.aborted) break;
    const payload = payloads.get(`${item.family}\u0000${item.external_id}`);
    if (authFailure || !payload || !isPolicyFamily(item.family)) {
      const error = authFailure ?? { code: 'not_in_backup', message: 'the item is not in the backup set' };
      if (!authFailure) itemFailed(item, error);
      buffer.push({
        family: item.family,
        externalId: item.external_id,
        action: null,
        result: 'failed',
        error,
      });
    } else {
      try {
        buffer.push(
          await restoreItem(client, item.family, item.external_id, payload, restore.dry_run, ctx.signal),
        );
      } catch (err) {
        if (ctx.signal.aborted) break;
        const error = toFailureEntry(err, 'graph_error');
        // A rejected credential fails every item the same way; asking again per item only adds noise.
        itemFailed(item, error);
        if (isGraphError(err, 'graph_auth_failed')) {
          authFailure = error;
          ctx.log.error('Graph refused the credential: every item left fails the same way', {
            code: error.code,
          });
        }
        buffer.push({
          family: item.family,
          externalId: item.external_id,
          action: null,
          result: 'failed',
          error,
        });
      }
    }
    if (buffer.length >= FLUSH_EVERY) await flush();
  }
  await flush();
  if (ctx.signal.aborted) {
    // Cancelled: the record ends cancelled. Shutdown or a lost lease: leave it running; the next
    // attempt resumes with the items still pending.
    if (ctx.signal.reason instanceof RunCancelledError) await finish('cancelled');
    throw ctx.signal.reason;
  }
  const summary = await tx((trx) => restoreRepository.summarize(trx, tenantId, id));
  const { failed, total } = summary.counts;
  await finish(failed === 0 ? 'completed' : failed === total ? 'failed' : 'completed_with_errors');
  return {};
}

/** Creates the item list from the backup (once) and starts the record. False when the backup is gone. */
async function prepare(trx: Trx, restore: RestoreRunRow): Promise<boolean> {
  const { tenant_id: tenantId, id } = restore;
  const set = await backupRepository.getSet(trx, tenantId, restore.backup_set_id);
  if (!set) return false;
  const requested = restore.requested_items ?? undefined;
  const backupItems = await backupRepository.listItems(trx, tenantId, set.id, requested);
  const found = new Set(backupItems.map((b) => b.external_id));
  await restoreRepository.insertItems(trx, tenantId, id, [
    ...backupItems.map((b) => ({ family: b.family, externalId: b.external_id, displayName: b.display_name })),
    ...(requested ?? [])
      .filter((x) => !found.has(x))
      .map((x) => ({
        family: 'unknown',
        externalId: x,
        displayName: '',
        failed: { code: 'not_in_backup', message: 'the item is not in the backup set' },
      })),
  ]);
  await restoreRepository.transition(trx, tenantId, id, { status: 'running' });
  return true;
}

/**
 * Restores one policy: created when Graph no longer has it, updated when its configuration
 * differs, left alone otherwise. A dry run reads Graph and decides, but writes nothing.
 */
async function restoreItem(
  client: GraphClient,
  family: Parameters<typeof policyFamilyPath>[0],
  externalId: string,
  payload: Record<string, unknown>,
  dryRun: boolean,
  signal: AbortSignal,
): Promise<ItemOutcome> {
  const path = policyFamilyPath(family);
  const itemPath = `${path}/${encodeURIComponent(externalId)}`;
  let current: Record<string, unknown> | null;
  try {
    current = await client.get<Record<string, unknown>>(itemPath, { signal });
  } catch (err) {
    if (!isGraphError(err, 'graph_not_found')) throw err;
    current = null;
  }
  const base = { family, externalId, result: 'succeeded' as const };
  if (current === null) {
    if (dryRun) return { ...base, action: 'create' };
    const created = await client.post<{ id?: unknown }>(path, configurationOf(payload), { signal });
    return { ...base, action: 'create', targetId: typeof created?.id === 'string' ? created.id : null };
  }
  if (changedPaths(current, payload).length === 0) return { ...base, action: 'none', targetId: externalId };
  if (!dryRun) await client.patch(itemPath, configurationOf(payload), { signal });
  return { ...base, action: 'update', targetId: externalId };
}
