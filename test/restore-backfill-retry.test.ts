import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../src/shared/errors.ts';
import { backupRepository } from '../src/suite/backup/repository.ts';
import { backfillLegacy, describeDivergence, verifyLegacy } from '../src/suite/legacy/transition.ts';
import { type ExternalWriter, externalWriter } from './helpers/external-writer.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

const USER = { kind: 'user' as const, userId: '00000000-0000-4000-8000-0000000000aa', name: 'Alex Operator' };

let ledger: SuiteLedger;
let writer: ExternalWriter;
let tenant: string;
let backupId: string;

const old = (days: number) => new Date(Date.now() - days * 86_400_000);

async function mirrorOf(id: string) {
  return ledger.database.db
    .selectFrom('operation_runs')
    .selectAll()
    .where('source_type', '=', 'restore_run')
    .where('source_id', '=', id)
    .executeTakeFirst();
}

/** Restore records from before the mirror existed: written with the mirror trigger not yet there. */
async function writePredating(
  records: { id: string; status: string; createdAt: Date; failedItems: number }[],
) {
  await writer.tx(async (q) => {
    // As written before the mirror trigger existed: no trigger fires for these rows.
    await q('set local session_replication_role = replica');
    for (const r of records) {
      const done = r.status !== 'pending' && r.status !== 'running';
      await q(
        `insert into restore_runs (id, tenant_id, backup_set_id, status, version, initiator_kind, initiator_name,
                                   created_at, started_at, completed_at)
         values ($1, $2, $3, $4, 4, 'schedule', 'nightly', $5, $5, $6)`,
        [r.id, tenant, backupId, r.status, r.createdAt, done ? r.createdAt : null],
      );
      for (let n = 0; n < 3; n++) {
        await q(
          `insert into restore_run_items (tenant_id, restore_run_id, family, external_id, action, result, error_message)
           values ($1, $2, 'compliancePolicies', $3, 'update', $4, $5)`,
          [
            tenant,
            r.id,
            `p${n}`,
            n < r.failedItems ? 'failed' : 'succeeded',
            n < r.failedItems ? 'refused' : null,
          ],
        );
      }
    }
  });
}

beforeAll(async () => {
  ledger = await startSuiteLedger({ worker: false });
  tenant = await ledger.createTenant('Contoso');
  backupId = uuidv7();
  await ledger.database.tenantTx(tenant, (trx) =>
    backupRepository.createSet(
      trx,
      tenant,
      { id: backupId, name: 'Before', scope: ['compliancePolicies'], runId: null },
      [],
    ),
  );
  writer = await externalWriter(ledger);
});

afterAll(async () => {
  await writer?.close();
  await ledger?.stop();
});

describe('backfill and verify of restore records', () => {
  const ids = { done: uuidv7(), partial: uuidv7(), running: uuidv7() };

  it('imports restore records that predate their mirror once, however often it runs', async () => {
    await writePredating([
      { id: ids.done, status: 'completed', createdAt: old(20), failedItems: 0 },
      { id: ids.partial, status: 'completed_with_errors', createdAt: old(19), failedItems: 1 },
      { id: ids.running, status: 'running', createdAt: old(1), failedItems: 0 },
    ]);
    expect(await mirrorOf(ids.done)).toBeUndefined();
    const before = (await verifyLegacy(ledger.database)).filter((d) => d.table === 'restore_runs');
    expect(before.map((d) => [d.legacyId, d.problem]).sort()).toEqual(
      Object.values(ids)
        .map((id) => [id, 'has no mirror in operation_runs (run backfill to import it)'])
        .sort(),
    );
    const [first, second] = [await backfillLegacy(ledger.database), await backfillLegacy(ledger.database)];
    expect(first.byTable.restore_runs).toBe(3);
    expect(second.byTable.restore_runs).toBe(0);
    const partial = await mirrorOf(ids.partial);
    expect(partial).toMatchObject({
      status: 'completed',
      outcome: 'partially_succeeded',
      type: 'restore.execute',
    });
    expect(partial!.summary_counts).toEqual({
      total: 3,
      created: 0,
      updated: 2,
      unchanged: 0,
      failed: 1,
      skipped: 0,
    });
    expect(await mirrorOf(ids.running)).toMatchObject({ status: 'running', outcome: 'pending' });
    const links = await ledger.database.db
      .selectFrom('restore_runs')
      .select(['id', 'operation_run_id', 'version', 'created_at'])
      .where('id', 'in', Object.values(ids))
      .execute();
    // Linked to their mirrors without a new version: the import is not a change of the restore.
    // The mirrors keep the time the restores happened.
    for (const l of links) {
      const m = (await mirrorOf(l.id))!;
      expect(l.operation_run_id).toBe(m.id);
      expect(l.version).toBe(4);
      expect(m.created_at.getTime()).toBe(l.created_at.getTime());
    }
    expect((await verifyLegacy(ledger.database)).map(describeDivergence)).toEqual([]);
  });

  it('verify names a deleted mirror and an altered one', async () => {
    const deleted = (await mirrorOf(ids.done))!;
    await ledger.database.db.deleteFrom('operation_runs').where('id', '=', deleted.id).execute();
    // A completed run cannot change: altering one takes going around the guard, as corruption would.
    await writer.tx(async (q) => {
      await q('set local session_replication_role = replica');
      await q(
        `update operation_runs set summary_counts = summary_counts || '{"failed": 0}' where source_id = $1`,
        [ids.partial],
      );
    });
    const lines = (await verifyLegacy(ledger.database)).map(describeDivergence);
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.includes(ids.done))).toMatch(/has no mirror/);
    expect(lines.find((l) => l.includes(ids.partial))).toMatch(
      /the mirror counts .*"failed":0.*the items say .*"failed":1/,
    );
    // Backfill repairs the deleted one (its link was not cleared by retention).
    expect((await backfillLegacy(ledger.database)).byTable.restore_runs).toBe(1);
    expect(await mirrorOf(ids.done)).toMatchObject({ outcome: 'succeeded' });
  });
});

describe('retrying a restore', () => {
  it('creates a new record linked to the old one, whose mirror is linked to the old mirror', async () => {
    const failed = uuidv7();
    await writer.tx(async (q) => {
      await q(
        `insert into restore_runs (id, tenant_id, backup_set_id, status, dry_run, requested_items, initiator_kind,
                                   error_code, error_message, completed_at)
         values ($1, $2, $3, 'failed', true, '["p1","p0"]', 'system', 'graph_unavailable', 'Graph said no', now())`,
        [failed, tenant, backupId],
      );
    });
    const oldMirror = (await mirrorOf(failed))!;
    const { restore, run, created } = await ledger.restoreRuns.retry(tenant, failed, USER);
    expect(created).toBe(true);
    expect(restore).toMatchObject({
      retryOf: failed,
      backupId,
      dryRun: true,
      requestedItems: ['p0', 'p1'],
      status: 'pending',
    });
    expect(run).toMatchObject({
      retryOf: oldMirror.id,
      type: 'restore.execute',
      source: { type: 'restore_run', id: restore.id },
    });
    expect(restore.runId).toBe(run.id);
    // While it is active, the same retry again is refused; so is retrying what did not fail.
    await expect(ledger.restoreRuns.retry(tenant, failed, USER)).rejects.toBeInstanceOf(ConflictError);
    await expect(ledger.restoreRuns.retry(tenant, restore.id, USER)).rejects.toBeInstanceOf(ConflictError);
    await expect(ledger.restoreRuns.retry(tenant, uuidv7(), USER)).rejects.toBeInstanceOf(NotFoundError);
    const other = await ledger.createTenant('Elsewhere');
    await expect(ledger.restoreRuns.retry(other, failed, USER)).rejects.toBeInstanceOf(NotFoundError);
    const count = await sql<{ n: number }>`
      select count(*)::int as n from restore_runs where retry_of_restore_run_id = ${failed}`.execute(
      ledger.database.db,
    );
    expect(count.rows[0]!.n).toBe(1);
  });
});
