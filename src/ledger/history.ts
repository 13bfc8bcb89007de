import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import type { Trx } from '../db/database.ts';
import { boundFailures } from '../shared/failures.ts';
import { redactDeep } from '../shared/redact.ts';
import { runIdentityHash } from './identity.ts';
import type { FailureEntry, Initiator, RunRow } from './run.ts';
import type { RunOutcome } from './tables.ts';

/** A run that finished before it reached the ledger: imported (backfill) or seeded (demo). */
export type CompletedRunRecord = {
  id?: string;
  tenantId: string;
  type: string;
  identityInputs: Record<string, unknown>;
  initiator: Initiator;
  context: Record<string, unknown>;
  counts: Record<string, number>;
  failures: FailureEntry[];
  outcome: Exclude<RunOutcome, 'pending'>;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date;
  attempts?: number;
};

const json = (value: unknown) => JSON.stringify(value);

export const historyRepository = {
  /**
   * Inserts a run directly as completed. It never had a job, so it bypasses the queue; an id that
   * already exists is left alone, which makes seeding with fixed ids idempotent.
   */
  async insertCompleted(trx: Trx, record: CompletedRunRecord): Promise<RunRow | null> {
    const row = await trx
      .insertInto('operation_runs')
      .values({
        id: record.id ?? uuidv7(),
        tenant_id: record.tenantId,
        type: record.type,
        status: 'completed',
        outcome: record.outcome,
        run_identity_hash: runIdentityHash(record.tenantId, record.type, record.identityInputs),
        initiator_kind: record.initiator.kind,
        initiator_user_id: record.initiator.userId ?? null,
        initiator_name: (record.initiator.name ?? '').slice(0, 200),
        context: json(redactDeep(record.context)),
        summary_counts: json(record.counts),
        failure_summary: json(boundFailures(record.failures)),
        attempts: record.attempts ?? 1,
        max_attempts: Math.max(1, record.attempts ?? 1),
        created_at: record.createdAt,
        started_at: record.startedAt ?? record.createdAt,
        completed_at: record.completedAt,
        updated_at: record.completedAt,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'id']).doNothing())
      .returningAll()
      .executeTakeFirst();
    return row ?? null;
  },

  /** Adds keys to the context of a run that is not completed yet (e.g. a marker set at insert). */
  async annotateActive(
    trx: Trx,
    tenantId: string,
    runId: string,
    patch: Record<string, unknown>,
  ): Promise<void> {
    await trx
      .updateTable('operation_runs')
      .set({ context: sql`context || ${json(redactDeep(patch))}::jsonb` })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', runId)
      .where('status', '<>', 'completed')
      .execute();
  },
};

/**
 * A version 7 UUID for a given time, so imported and seeded runs sort among live ones by when they
 * happened. Entropy may be fixed (idempotent seeding) or random.
 */
export function uuidv7At(ms: number, entropy: Buffer = randomBytes(10)): string {
  const b = Buffer.alloc(16);
  b.writeUIntBE(Math.max(0, Math.floor(ms)), 0, 6);
  entropy.copy(b, 6, 0, 10);
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
