import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import type { Trx } from '../db/database.ts';
import { boundFailures } from '../shared/failures.ts';
import { redactDeep } from '../shared/redact.ts';
import { runIdentityHash } from './identity.ts';
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
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
};

export type MirrorApplyResult = { applied: boolean; row: RunRow | null };

const json = (value: unknown) => JSON.stringify(value);

function checkState(s: MirrorState): void {
  if ((s.status === 'completed') !== (s.outcome !== 'pending')) {
    throw new Error(`mirror state ${s.status}/${s.outcome} is inconsistent`);
  }
  if (!Number.isSafeInteger(s.version) || s.version < 1) throw new Error('mirror version must be ≥ 1');
}

export const mirrorRepository = {
  /**
   * Makes a run the ledger just inserted the mirror of a domain record: the run a start created
   * and the domain record it created in the same transaction become one row, not two.
   */
  async attachSource(
    trx: Trx,
    tenantId: string,
    runId: string,
    source: { type: string; id: string; version: number; links?: Record<string, string> },
  ): Promise<RunRow | null> {
    const patch = { sourceVersion: source.version, ...(source.links ? { links: source.links } : {}) };
    const row = await trx
      .updateTable('operation_runs')
      .set({
        source_type: source.type,
        source_id: source.id,
        context: sql`context || ${json(patch)}::jsonb`,
      })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', runId)
      .where('status', '<>', 'completed')
      .where('source_type', 'is', null)
      .returningAll()
      .executeTakeFirst();
    return row ?? null;
  },

  /** Applies one state of a domain record: creates the mirror, or moves it forward; never back. */
  async apply(trx: Trx, state: MirrorState): Promise<MirrorApplyResult> {
    checkState(state);
    // Appliers of one source take turns: a concurrent insert would otherwise trip the identity
    // index (which ON CONFLICT on the source index does not cover) instead of waiting.
    await sql`select pg_advisory_xact_lock(hashtextextended(${`mirror|${state.tenantId}|${state.sourceType}|${state.sourceId}`}, 0))`.execute(
      trx,
    );
    const failures = boundFailures(state.failures);
    const completed = state.status === 'completed';
    const inserted = await runRepository.insertMirror(trx, {
      id: uuidv7(),
      tenant_id: state.tenantId,
      type: state.type,
      status: state.status,
      outcome: state.outcome,
      run_identity_hash: runIdentityHash(state.tenantId, state.type, {
        sourceType: state.sourceType,
        sourceId: state.sourceId,
      }),
      initiator_kind: state.initiator.kind,
      initiator_user_id: state.initiator.userId ?? null,
      initiator_name: (state.initiator.name ?? '').slice(0, 200),
      context: json(
        redactDeep({ sourceVersion: state.version, ...(state.links ? { links: state.links } : {}) }),
      ),
      summary_counts: json(state.counts),
      failure_summary: json(failures),
      source_type: state.sourceType,
      source_id: state.sourceId,
      max_attempts: 1,
      job_id: null,
      created_at: state.createdAt,
      started_at: state.startedAt ?? (completed ? state.createdAt : null),
      completed_at: completed ? (state.completedAt ?? new Date()) : null,
    });
    if (inserted) return { applied: true, row: inserted };
    // The version guard is what makes a late or repeated event a no-op.
    const updated = await trx
      .updateTable('operation_runs')
      .set({
        status: state.status,
        outcome: state.outcome,
        summary_counts: json(state.counts),
        failure_summary: json(failures),
        started_at: sql`coalesce(${state.startedAt}::timestamptz, started_at)`,
        completed_at: completed ? (state.completedAt ?? new Date()) : null,
        context: sql`jsonb_set(context, '{sourceVersion}', to_jsonb(${state.version}::int))`,
      })
      .where('tenant_id', '=', state.tenantId)
      .where('source_type', '=', state.sourceType)
      .where('source_id', '=', state.sourceId)
      .where('status', '<>', 'completed')
      .where(sql<boolean>`coalesce((context->>'sourceVersion')::int, 0) < ${state.version}`)
      .returningAll()
      .executeTakeFirst();
    return { applied: updated !== undefined, row: updated ?? null };
  },

  async find(trx: Trx, tenantId: string, sourceType: string, sourceId: string): Promise<RunRow | null> {
    return runRepository.findBySource(trx, tenantId, sourceType, sourceId);
  },
};
