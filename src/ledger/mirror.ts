import { type Kysely, sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { DB } from '../db/schema.ts';
import { boundFailures } from '../shared/failures.ts';
import { redact, redactDeep } from '../shared/redact.ts';
import { runRepository } from './repository.ts';
import type { FailureEntry, Initiator, RunRow } from './run.ts';
import type { RunOutcome, RunStatus } from './tables.ts';

/**
 * The ledger side of mirroring a domain record (e.g. a restore run) into operation_runs.
 * The domain record stays the source of truth and carries a version bumped on every change; the
 * mirror stores the version it reflects in `context.sourceVersion` and only ever moves forward, so
 * a late, repeated or reordered event never moves it back. A completed mirror is immutable like
 * any completed run.
 */
export type MirrorState = {
  tenantId: string;
  type: string;
  sourceType: string;
  sourceId: string;
  version: number;
  status: RunStatus;
  outcome: RunOutcome;
  counts: Record<string, number>;
  failures: FailureEntry[];
  initiator: Initiator;
  links?: Record<string, string>;
  /**
   * The inputs a mirror this creates keeps, as a started run keeps its own: what the record asked
   * for (e.g. `{backupId, dryRun}`). A mirror of a run Opsledger started keeps that run's.
   */
  inputs?: Record<string, unknown>;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
};

export type MirrorApplyResult = { applied: boolean; row: RunRow | null };

/** What one pass of a type's periodic mirror check found and did, across tenants. */
export type MirrorCheckReport = {
  /** Records compared with their mirrors. */
  checked: number;
  /** Mirrors that disagree with their record now (marked). */
  divergent: number;
  /** Marks set or changed, and marks cleared because record and mirror agree again. */
  marked: number;
  cleared: number;
  /** Active mirrors whose record was gone, completed by this pass (the trigger missed them). */
  completedOrphans: number;
};

const json = (value: unknown) => JSON.stringify(value);

function checkState(s: MirrorState): void {
  if ((s.status === 'completed') !== (s.outcome !== 'pending')) {
    throw new Error(`mirror state ${s.status}/${s.outcome} is inconsistent`);
  }
  if (!Number.isSafeInteger(s.version) || s.version < 1) throw new Error('mirror version must be ≥ 1');
}

export const mirrorRepository = {
  /**
   * Applies one state of a domain record: creates the mirror, or moves it forward; never back.
   * The rules live in the database (opsledger_mirror_apply, migrations 0004 and 0024) so that a trigger on a
   * domain table applies exactly the same ones to writes that never pass through this code.
   */
  async apply(
    trx: Trx,
    state: MirrorState,
    options: { runId?: string | null } = {},
  ): Promise<MirrorApplyResult> {
    checkState(state);
    const completed = state.status === 'completed';
    const links = state.links ? json(redactDeep(state.links)) : null;
    const inputs = state.inputs ? json(redactDeep(state.inputs)) : null;
    const result = await sql<RunRow>`
      select * from opsledger_mirror_apply(
        ${state.tenantId}::uuid, ${state.type}, ${state.sourceType}, ${state.sourceId}, ${state.version}::int,
        ${state.status}, ${state.outcome}, ${json(state.counts)}::jsonb, ${json(boundFailures(state.failures))}::jsonb,
        ${state.initiator.kind}, ${state.initiator.userId ?? null}::uuid, ${(state.initiator.name ?? '').slice(0, 200)},
        ${links}::jsonb, ${state.createdAt}::timestamptz, ${state.startedAt}::timestamptz,
        ${completed ? (state.completedAt ?? new Date()) : null}::timestamptz, ${options.runId ?? null}::uuid,
        ${inputs}::jsonb)`.execute(trx);
    const row = result.rows[0] ?? null;
    return { applied: row !== null, row };
  },

  async find(trx: Trx, tenantId: string, sourceType: string, sourceId: string): Promise<RunRow | null> {
    return runRepository.findBySource(trx, tenantId, sourceType, sourceId);
  },

  /** Runs marked as disagreeing with their record, all tenants (a partial index holds just them). */
  async countDivergent(db: Kysely<DB>): Promise<number> {
    const row = await db
      .selectFrom('operation_runs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('divergence', 'is not', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  /**
   * Marks a mirror as disagreeing with its record (keeping when it was first seen while it goes on
   * disagreeing), or clears the mark with null. True when the mark changed.
   */
  async setDivergence(trx: Trx, tenantId: string, runId: string, detail: string | null): Promise<boolean> {
    const text = detail === null ? null : redact(detail).slice(0, 1000);
    const result = await sql`
      update operation_runs set divergence = case when ${text}::text is null then null else
          jsonb_build_object('detectedAt', coalesce(divergence ->> 'detectedAt',
                                                    to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
                             'detail', ${text}::text) end
      where tenant_id = ${tenantId} and id = ${runId}
        and (divergence ->> 'detail') is distinct from ${text}::text`.execute(trx);
    return Number(result.numAffectedRows ?? 0) > 0;
  },
};
