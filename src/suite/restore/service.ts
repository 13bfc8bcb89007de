import type { Database } from '../../db/database.ts';
import { CursorCodec } from '../../ledger/cursor.ts';
import { mirrorRepository } from '../../ledger/mirror.ts';
import type { Initiator, Run, RunRow } from '../../ledger/run.ts';
import type { OperationRunService } from '../../ledger/service.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.ts';
import { assertUuid } from '../../shared/ids.ts';
import { redact } from '../../shared/redact.ts';
import { iso } from '../../shared/time.ts';
import { RESTORE_RUN_TYPE, RESTORE_SOURCE_TYPE } from './mirror.ts';
import {
  type RestoreItemRow,
  type RestoreRunRow,
  type RestoreSummary,
  restoreRepository,
} from './repository.ts';
import { restoreRetryInputs } from './retry.ts';
import type { RestoreAction, RestoreItemResult, RestoreStatus } from './tables.ts';

export type RestoreRunView = {
  id: string;
  tenantId: string;
  backupId: string;
  status: RestoreStatus;
  dryRun: boolean;
  requestedItems: string[] | null;
  version: number;
  initiator: { kind: string; userId: string | null; name: string };
  error: { code: string; message: string } | null;
  counts: RestoreSummary['counts'];
  /** The mirrored operation run (null once the ledger has pruned it). */
  runId: string | null;
  /** The restore this one retries. */
  retryOf: string | null;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
};

export type RestoreItemView = {
  family: string;
  externalId: string;
  displayName: string;
  action: RestoreAction | null;
  result: RestoreItemResult;
  targetId: string | null;
  error: { code: string; message: string } | null;
};

export type RestoreCreateRequest = { backupId: string; items?: string[]; dryRun?: boolean };

const RETRYABLE_RESTORE_STATUSES: readonly RestoreStatus[] = ['failed', 'completed_with_errors', 'cancelled'];

const LIST_FINGERPRINT = 'restore_runs';

/** What the restore-runs API calls. Creating one starts `restore.execute` through the ledger. */
export class RestoreRunService {
  #database: Database;
  #runs: OperationRunService;
  #cursors: CursorCodec;

  constructor(deps: { database: Database; runs: OperationRunService; cursorKey: Buffer }) {
    this.#database = deps.database;
    this.#runs = deps.runs;
    this.#cursors = new CursorCodec(deps.cursorKey);
  }

  /**
   * Starts a restore. While an identical restore (same backup, same dry-run flag, same items) is
   * active it is returned with `created: false`. The backup is checked in the start transaction by
   * the type's validation step, the same door as the operations API.
   */
  async create(
    tenantId: string,
    request: RestoreCreateRequest,
    initiator: Initiator,
  ): Promise<{ restore: RestoreRunView; run: Run; created: boolean }> {
    const t = assertUuid(tenantId, 'tenant');
    if (typeof request?.backupId !== 'string') {
      throw new ValidationError('backupId is required', [{ path: '/backupId', message: 'is required' }]);
    }
    const backupId = assertUuid(request.backupId, 'backup');
    return this.#start(t, { backupId, dryRun: request.dryRun ?? false, items: request.items }, initiator);
  }

  /**
   * Retries a failed, partially completed or cancelled restore: a new restore record with the same
   * backup, dry-run flag and exactly the same items, linked to the old one; its mirror is linked to
   * the old mirror. Works for a record written by any application, as long as its backup still
   * exists and the items it restored are known (restoreRetryInputs).
   */
  async retry(
    tenantId: string,
    id: string,
    initiator: Initiator,
  ): Promise<{ restore: RestoreRunView; run: Run; created: boolean }> {
    const t = assertUuid(tenantId, 'tenant');
    const rid = assertUuid(id, 'restore');
    const found = await this.#database.tenantTx(t, async (trx) => {
      const row = await restoreRepository.get(trx, t, rid);
      if (!row) return null;
      if (!RETRYABLE_RESTORE_STATUSES.includes(row.status)) {
        throw new ConflictError('only a failed, partially completed or cancelled restore can be retried');
      }
      const mirror = await mirrorRepository.find(trx, t, RESTORE_SOURCE_TYPE, rid);
      return { row, mirror, inputs: await restoreRetryInputs(trx, row, mirror) };
    });
    if (!found) throw new NotFoundError('restore not found');
    const { row, mirror, inputs } = found;
    const result = await this.#start(t, inputs, initiator, { restoreId: row.id, mirror });
    if (!result.created) {
      throw new ConflictError(`an identical restore is already active: ${result.restore.id}`);
    }
    return result;
  }

  async #start(
    t: string,
    inputs: { backupId: string; dryRun: boolean; items?: string[] },
    initiator: Initiator,
    retryOf?: { restoreId: string; mirror: RunRow | null },
  ): Promise<{ restore: RestoreRunView; run: Run; created: boolean }> {
    const { run, created } = await this.#runs.start(
      {
        tenantId: t,
        type: RESTORE_RUN_TYPE,
        inputs: {
          backupId: inputs.backupId,
          dryRun: inputs.dryRun,
          ...(inputs.items ? { items: inputs.items } : {}),
        },
        initiator,
        ...(retryOf ? { links: { retryOfRestoreRunId: retryOf.restoreId } } : {}),
      },
      retryOf?.mirror ? { retryOf: retryOf.mirror } : {},
    );
    const row = await this.#database.tenantTx(t, (trx) => restoreRepository.findByRun(trx, t, run.id));
    if (!row) throw new NotFoundError('restore not found');
    return { restore: await this.#view(t, row), run: await this.#runs.get(t, run.id), created };
  }

  async get(tenantId: string, id: string): Promise<RestoreRunView & { items: RestoreItemView[] }> {
    const t = assertUuid(tenantId, 'tenant');
    const rid = assertUuid(id, 'restore');
    const found = await this.#database.tenantTx(t, async (trx) => {
      const row = await restoreRepository.get(trx, t, rid);
      if (!row) return null;
      return {
        row,
        summary: await restoreRepository.summarize(trx, t, rid),
        items: await restoreRepository.listItems(trx, t, rid),
      };
    });
    if (!found) throw new NotFoundError('restore not found');
    return { ...present(found.row, found.summary), items: found.items.map(presentItem) };
  }

  /** Newest first, 50 a page, keyset-paged. */
  async list(
    tenantId: string,
    cursor?: string | null,
  ): Promise<{ data: RestoreRunView[]; nextCursor: string | null }> {
    const t = assertUuid(tenantId, 'tenant');
    const limit = 50;
    const after = cursor ? this.#cursors.decode(cursor, t, LIST_FINGERPRINT) : null;
    const { rows, summaries } = await this.#database.tenantTx(t, async (trx) => {
      const rows = await restoreRepository.list(trx, t, after, limit + 1);
      const summaries = [];
      for (const r of rows.slice(0, limit)) summaries.push(await restoreRepository.summarize(trx, t, r.id));
      return { rows, summaries };
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      data: page.map((r, i) => present(r, summaries[i]!)),
      nextCursor:
        rows.length > limit && last
          ? this.#cursors.encode({ createdAt: last.created_at_key, id: last.id }, t, LIST_FINGERPRINT)
          : null,
    };
  }

  async #view(tenantId: string, row: RestoreRunRow): Promise<RestoreRunView> {
    const summary = await this.#database.tenantTx(tenantId, (trx) =>
      restoreRepository.summarize(trx, tenantId, row.id),
    );
    return present(row, summary);
  }
}

function present(row: RestoreRunRow, summary: RestoreSummary): RestoreRunView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    backupId: row.backup_set_id,
    status: row.status,
    dryRun: row.dry_run,
    requestedItems: row.requested_items,
    version: row.version,
    initiator: { kind: row.initiator_kind, userId: row.initiator_user_id, name: row.initiator_name },
    error: row.error_code ? presentError(row.error_code, row.error_message) : null,
    counts: summary.counts,
    runId: row.operation_run_id,
    retryOf: row.retry_of_restore_run_id,
    createdAt: iso(row.created_at)!,
    startedAt: iso(row.started_at),
    completedAt: iso(row.completed_at),
  };
}

function presentItem(item: RestoreItemRow): RestoreItemView {
  return {
    family: item.family,
    externalId: item.external_id,
    displayName: item.display_name,
    action: item.action,
    result: item.result,
    targetId: item.target_id,
    error: item.error_code ? presentError(item.error_code, item.error_message) : null,
  };
}

/** Another application may have written the record: its text is redacted on the way out. */
function presentError(code: string, message: string | null): { code: string; message: string } {
  return { code, message: redact(message ?? '') };
}
