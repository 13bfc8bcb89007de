import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reapStaleRuns } from '../src/worker/maintenance.ts';
import { type ExternalWriter, externalWriter, mirrorsOfSource } from './helpers/external-writer.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

/**
 * The edges of mirroring another application's restore records: tenant scope, text that never
 * passed Opsledger's redaction, and the reaper (a mirror without a job is not the queue's).
 */

let ledger: SuiteLedger;
let writer: ExternalWriter;
let tenants: string[];

const mirrorsOf = (id: string) => mirrorsOfSource(ledger, id);

beforeAll(async () => {
  ledger = await startSuiteLedger({ worker: false });
  tenants = [await ledger.createTenant('Writer A'), await ledger.createTenant('Writer B')];
  writer = await externalWriter(ledger);
});

afterAll(async () => {
  await writer?.close();
  await ledger?.stop();
});

describe('restore records written by plain SQL: scope, text and the reaper', () => {
  it('a write of one tenant’s record never reaches another tenant, and the tenant scope still holds', async () => {
    const [a, b] = tenants as [string, string];
    const id = uuidv7();
    await writer.tx((q) =>
      q(
        `insert into restore_runs (id, tenant_id, backup_set_id, initiator_kind) values ($1, $2, gen_random_uuid(), 'system')`,
        [id, b],
      ),
    );
    const seenByA = await ledger.database.tenantTx(a, (trx) =>
      trx.selectFrom('operation_runs').select('id').where('source_id', '=', id).execute(),
    );
    const seenByB = await ledger.database.tenantTx(b, (trx) =>
      trx.selectFrom('operation_runs').select(['id', 'tenant_id']).where('source_id', '=', id).execute(),
    );
    expect(seenByA).toEqual([]);
    expect(seenByB.map((r) => r.tenant_id)).toEqual([b]);
    // Opsledger's own scoped transaction for tenant A cannot write a record of tenant B: row security
    // on restore_runs refuses it before the mirror trigger could run.
    await expect(
      ledger.database.tenantTx(a, (trx) =>
        trx
          .insertInto('restore_runs')
          .values({ id: uuidv7(), tenant_id: b, backup_set_id: uuidv7(), initiator_kind: 'system' })
          .execute(),
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it('text another application wrote never leaves through either API unredacted', async () => {
    const tenant = tenants[0]!;
    const id = uuidv7();
    const secret = 'Sup3r-S3cret-Passw0rd-value';
    await writer.tx(async (q) => {
      await q(
        `insert into restore_runs (id, tenant_id, backup_set_id, status, initiator_kind, error_code, error_message, completed_at)
         values ($1, $2, gen_random_uuid(), 'failed', 'system', 'login_failed', $3, now())`,
        [id, tenant, `could not sign in with password=${secret}`],
      );
    });
    const [m] = await mirrorsOf(id);
    const run = await ledger.service.get(tenant, m!.id);
    const restore = await ledger.restoreRuns.get(tenant, id);
    expect(run.failureSummary[0]!.message).toMatch(/could not sign in with password=\[REDACTED\]/);
    expect(JSON.stringify([run, restore])).not.toContain(secret);
  });

  it('the reaper leaves the mirror of another application’s restore alone: its record, not a job, moves it', async () => {
    const tenant = tenants[1]!;
    const [pending, running] = [uuidv7(), uuidv7()];
    const long = new Date(Date.now() - 86_400_000);
    await writer.tx(async (q) => {
      await q(
        `insert into restore_runs (id, tenant_id, backup_set_id, status, initiator_kind, created_at)
         values ($1, $2, gen_random_uuid(), 'pending', 'system', $3)`,
        [pending, tenant, long],
      );
      await q(
        `insert into restore_runs (id, tenant_id, backup_set_id, status, initiator_kind, created_at, started_at)
         values ($1, $2, gen_random_uuid(), 'running', 'system', $3, $3)`,
        [running, tenant, long],
      );
    });
    const report = await reapStaleRuns({
      database: ledger.database,
      catalog: ledger.catalog,
      queue: ledger.queue,
      logger: ledger.logger,
      staleRunSeconds: 5,
    });
    expect(report).toEqual({ retried: 0, failed: 0, requeuedOrphans: 0, failedOrphans: 0 });
    expect([(await mirrorsOf(pending))[0]?.status, (await mirrorsOf(running))[0]?.status]).toEqual([
      'queued',
      'running',
    ]);
  });
});
