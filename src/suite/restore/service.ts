import type { Database } from '../../db/database.ts';
import { CursorCodec } from '../../ledger/cursor.ts';
import type { Initiator, Run } from '../../ledger/run.ts';
import type { OperationRunService } from '../../ledger/service.ts';
import { NotFoundError, ValidationError } from '../../shared/errors.ts';
import { assertUuid } from '../../shared/ids.ts';
import { iso } from '../../shared/time.ts';
import { backupRepository } from '../backup/repository.ts';
import { RESTORE_RUN_TYPE } from './mirror.ts';
import {
  type RestoreItemRow,
  type RestoreRunRow,
  type RestoreSummary,
  restoreRepository,
} from './repository.ts';
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
   * Starts a restore. While a restore of the same backup is active it is returned with
   * `created: false` (the run's identity is the backup).
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
    const set = await this.#database.tenantTx(t, (trx) => backupRepository.getSet(trx, t, backupId));
    if (!set) throw new NotFoundError('backup not found');
    const { run, created } = await this.#runs.start({
      tenantId: t,
      type: RESTORE_RUN_TYPE,
      inputs: {
        backupId,
        dryRun: request.dryRun ?? false,
        ...(request.items ? { items: request.items } : {}),
      },
      initiator,
    });
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
    error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
    counts: summary.counts,
    runId: row.operation_run_id,
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
    error: item.error_code ? { code: item.error_code, message: item.error_message ?? '' } : null,
  };
}
