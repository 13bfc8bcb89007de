import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import type { Trx } from '../../db/database.ts';
import type { RunWriteHook } from '../../ledger/catalog.ts';
import { historyRepository } from '../../ledger/history.ts';
import type { FailureEntry, RunRow } from '../../ledger/run.ts';
import type { RunOutcome } from '../../ledger/tables.ts';

/**
 * The legacy run tables that existed before operation_runs. During the transition every write of
 * an inventory sync or drift run also writes its legacy row, in the same transaction and in the
 * table's own vocabulary. One description per table drives the parallel write, `verify` and
 * `backfill`, so the three can never disagree about the mapping.
 */
export type LegacyTable = 'inventory_sync_runs' | 'drift_generation_runs';

export type LegacyRow = Record<string, unknown> & {
  id: string;
  tenant_id: string;
  operation_run_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
};

/** A legacy row translated into what its canonical run would hold. */
export type CanonicalFromLegacy = {
  outcome: Exclude<RunOutcome, 'pending'>;
  inputs: Record<string, unknown>;
  identityInputs: Record<string, unknown>;
  counts: Record<string, number>;
  failures: FailureEntry[];
};

export type LegacySpec = {
  table: LegacyTable;
  type: string;
  statusColumn: string;
  /** Column → counter key of the run. */
  counters: Record<string, string>;
  errorColumn: string;
  /** The legacy columns a run implies (status, counters, inputs, error, times). */
  fromRun(run: RunRow): Record<string, unknown>;
  /** Null when the legacy row is not finished (it may belong to a legacy worker still running). */
  toRun(row: LegacyRow): CanonicalFromLegacy | null;
};

const firstError = (run: RunRow): string | null => run.failure_summary?.[0]?.message ?? null;
const inputsOf = (run: RunRow) =>
  ((run.context as { inputs?: Record<string, unknown> }).inputs ?? {}) as Record<string, unknown>;
const asDate = (d: Date | string | null) => (d === null ? null : new Date(d));

function statusFor<T extends string>(run: RunRow, words: Record<RunOutcome | 'queued' | 'running', T>): T {
  if (run.status === 'completed') return words[run.outcome];
  return words[run.status];
}

function counterColumns(spec: Pick<LegacySpec, 'counters'>, run: RunRow): Record<string, number> {
  const counts = run.summary_counts ?? {};
  return Object.fromEntries(Object.entries(spec.counters).map(([col, key]) => [col, counts[key] ?? 0]));
}

function reverse<T extends string>(
  words: Record<string, T>,
  value: string,
): Exclude<RunOutcome, 'pending'> | null {
  const terminal: Exclude<RunOutcome, 'pending'>[] = [
    'succeeded',
    'partially_succeeded',
    'failed',
    'cancelled',
  ];
  return terminal.find((o) => words[o] === value) ?? null;
}

const INVENTORY_WORDS = {
  queued: 'pending',
  running: 'in_progress',
  pending: 'pending',
  succeeded: 'success',
  partially_succeeded: 'partial',
  failed: 'error',
  cancelled: 'cancelled',
} as const;

const DRIFT_WORDS = {
  queued: 'new',
  running: 'processing',
  pending: 'new',
  succeeded: 'done',
  partially_succeeded: 'partial',
  failed: 'failed',
  cancelled: 'aborted',
} as const;

function countsFrom(spec: Pick<LegacySpec, 'counters'>, row: LegacyRow): Record<string, number> {
  return Object.fromEntries(Object.entries(spec.counters).map(([col, key]) => [key, Number(row[col] ?? 0)]));
}

function failuresFrom(message: unknown): FailureEntry[] {
  return typeof message === 'string' && message !== '' ? [{ code: 'legacy_error', message }] : [];
}

export const inventoryLegacy: LegacySpec = {
  table: 'inventory_sync_runs',
  type: 'inventory.sync',
  statusColumn: 'status',
  counters: {
    items_created: 'created',
    items_updated: 'updated',
    items_unchanged: 'unchanged',
    items_deleted: 'deleted',
    items_failed: 'failed',
  },
  errorColumn: 'error_message',
  fromRun(run) {
    return {
      status: statusFor(run, INVENTORY_WORDS),
      scope: JSON.stringify(inputsOf(run).scope ?? []),
      ...counterColumns(this, run),
      error_message: firstError(run),
      started_at: asDate(run.started_at),
      finished_at: asDate(run.completed_at),
    };
  },
  toRun(row) {
    const outcome = reverse(INVENTORY_WORDS, String(row.status));
    if (!outcome) return null;
    const scope = Array.isArray(row.scope) ? [...(row.scope as string[])].sort() : [];
    return {
      outcome,
      inputs: { scope },
      identityInputs: { scope },
      counts: countsFrom(this, row),
      failures: failuresFrom(row.error_message),
    };
  },
};

export const driftLegacy: LegacySpec = {
  table: 'drift_generation_runs',
  type: 'drift.generate',
  statusColumn: 'state',
  counters: { added_count: 'added', removed_count: 'removed', modified_count: 'modified' },
  errorColumn: 'last_error',
  fromRun(run) {
    const baseline = inputsOf(run).baselineId;
    return {
      state: statusFor(run, DRIFT_WORDS),
      baseline_id: typeof baseline === 'string' ? baseline : null,
      ...counterColumns(this, run),
      last_error: firstError(run),
      started_at: asDate(run.started_at),
      finished_at: asDate(run.completed_at),
    };
  },
  toRun(row) {
    const outcome = reverse(DRIFT_WORDS, String(row.state));
    if (!outcome) return null;
    return {
      outcome,
      inputs: { baselineId: row.baseline_id },
      identityInputs: { baselineId: row.baseline_id },
      counts: countsFrom(this, row),
      failures: failuresFrom(row.last_error),
    };
  },
};

export const LEGACY_SPECS: readonly LegacySpec[] = [inventoryLegacy, driftLegacy];

export const legacyRepository = {
  /** Writes the legacy row of a run (insert on its first write, update after). */
  async upsertForRun(trx: Trx, spec: LegacySpec, run: RunRow): Promise<void> {
    const fields = spec.fromRun(run);
    await trx
      .insertInto(spec.table as 'inventory_sync_runs')
      .values({
        id: uuidv7(),
        tenant_id: run.tenant_id,
        operation_run_id: run.id,
        created_at: asDate(run.created_at)!,
        ...(fields as any),
      })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'operation_run_id'])
          .where('operation_run_id', 'is not', null)
          .doUpdateSet({ ...(fields as any), updated_at: sql`now()` }),
      )
      .execute();
  },

  /** Inserts a legacy row as the old code did, with no canonical run (demo, tests). */
  async insertUnlinked(trx: Trx, spec: LegacySpec, row: Record<string, unknown>): Promise<void> {
    await trx
      .insertInto(spec.table as 'inventory_sync_runs')
      .values(row as any)
      .onConflict((oc) => oc.columns(['tenant_id', 'id']).doNothing())
      .execute();
  },
};

/**
 * The parallel write, as a catalog hook: called in every transaction that writes the run. With
 * legacy writes off, the run is marked at insert so that `verify` does not expect a legacy row.
 */
export function legacyWriter(spec: LegacySpec, enabled: boolean): RunWriteHook {
  return async (trx, run) => {
    if (enabled) return legacyRepository.upsertForRun(trx, spec, run);
    const ctx = run.context as { legacyWrite?: boolean };
    if (run.status === 'queued' && ctx.legacyWrite !== false) {
      await historyRepository.annotateActive(trx, run.tenant_id, run.id, { legacyWrite: false });
    }
  };
}
