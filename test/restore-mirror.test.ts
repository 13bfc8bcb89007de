import fc from 'fast-check';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorRepository } from '../src/ledger/mirror.ts';
import {
  applyRestoreChange,
  type RestoreChangeEvent,
  restoreChangeEvent,
} from '../src/suite/restore/mirror.ts';
import type { RestoreRunRow, RestoreSummary } from '../src/suite/restore/repository.ts';
import type { RestoreAction, RestoreStatus } from '../src/suite/restore/tables.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

let ledger: SuiteLedger;
let tenant: string;

type Item = { action: RestoreAction; result: 'succeeded' | 'failed' | 'skipped' | 'pending' };

function summarize(items: Item[]): RestoreSummary {
  const counts = { total: items.length, created: 0, updated: 0, unchanged: 0, failed: 0, skipped: 0 };
  const failures: RestoreSummary['failures'] = [];
  items.forEach((i, n) => {
    if (i.result === 'failed') {
      counts.failed++;
      failures.push({ code: 'graph_forbidden', message: `deviceConfigurations/item-${n}: refused` });
    } else if (i.result === 'skipped') counts.skipped++;
    else if (i.result === 'succeeded') {
      if (i.action === 'create') counts.created++;
      else if (i.action === 'update') counts.updated++;
      else counts.unchanged++;
    }
  });
  return { counts, failures };
}

const historyArb = fc.record({
  items: fc.array(
    fc.record({
      action: fc.constantFrom<RestoreAction>('create', 'update', 'none'),
      fails: fc.boolean(),
    }),
    { maxLength: 6 },
  ),
  batches: fc.integer({ min: 1, max: 4 }),
  cancelAfter: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  backupMissing: fc.boolean(),
});

/** Every state a restore record goes through, as the domain would emit them (versions 1..n). */
type History = typeof historyArb extends fc.Arbitrary<infer T> ? T : never;

function domainHistory(tenantId: string, h: History) {
  const id = uuidv7();
  const created = new Date();
  let version = 0;
  let status: RestoreStatus = 'pending';
  let started: Date | null = null;
  let completed: Date | null = null;
  let error: { code: string; message: string } | null = null;
  const items: Item[] = h.items.map((i) => ({ action: i.action, result: 'pending' }));
  const events: RestoreChangeEvent[] = [];
  const emit = () => {
    version++;
    const row: RestoreRunRow = {
      id,
      tenant_id: tenantId,
      backup_set_id: '00000000-0000-4000-8000-0000000000bb',
      status,
      dry_run: false,
      requested_items: null,
      version,
      initiator_kind: 'system',
      initiator_user_id: null,
      initiator_name: 'property',
      error_code: error?.code ?? null,
      error_message: error?.message ?? null,
      operation_run_id: null,
      retry_of_restore_run_id: null,
      run_pruned_at: null,
      created_at: created,
      started_at: started,
      completed_at: completed,
      updated_at: new Date(created.getTime() + version),
    };
    events.push(restoreChangeEvent(row, summarize(items)));
  };
  const end = (s: RestoreStatus) => {
    status = s;
    completed = new Date(created.getTime() + 1000 + version);
    emit();
  };
  emit();
  if (h.backupMissing) {
    error = { code: 'backup_not_found', message: 'the backup set does not exist' };
    end('failed');
    return events;
  }
  status = 'running';
  started = new Date(created.getTime() + 10);
  emit();
  const per = Math.ceil(items.length / h.batches) || 1;
  for (let b = 0; b * per < items.length; b++) {
    if (h.cancelAfter !== undefined && b >= h.cancelAfter) {
      for (const i of items) if (i.result === 'pending') i.result = 'skipped';
      end('cancelled');
      return events;
    }
    for (let k = b * per; k < Math.min(items.length, (b + 1) * per); k++) {
      items[k]!.result = h.items[k]!.fails ? 'failed' : 'succeeded';
    }
    emit();
  }
  const { failed, total } = summarize(items).counts;
  end(failed === 0 ? 'completed' : failed === total ? 'failed' : 'completed_with_errors');
  return events;
}

async function mirrorOf(sourceId: string) {
  return ledger.database.tenantTx(tenant, (trx) =>
    mirrorRepository.find(trx, tenant, 'restore_run', sourceId),
  );
}

beforeAll(async () => {
  // No worker: the mirror is what is under test, and nothing else may touch its rows.
  ledger = await startSuiteLedger({ worker: false });
  tenant = await ledger.createTenant('Mirror');
});

afterAll(async () => {
  await ledger?.stop();
});

describe('restore mirror', () => {
  it('replaying change events duplicated and out of order always leaves the mirror equal to the final domain state', async () => {
    await fc.assert(
      fc.asyncProperty(
        historyArb,
        fc.array(fc.nat({ max: 999 }), { maxLength: 12 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 24, maxLength: 24 }),
        fc.integer({ min: 1, max: 3 }),
        async (history, duplicates, keys, parallel) => {
          const events = domainHistory(tenant, history);
          const final = events.at(-1)!;
          const deliveries = [...events, ...duplicates.map((d) => events[d % events.length]!)];
          const order = deliveries
            .map((e, i) => ({ e, k: keys[i % keys.length]! + i * 1e-9 }))
            .sort((a, b) => a.k - b.k)
            .map((x) => x.e);
          let highest = 0;
          for (let i = 0; i < order.length; i += parallel) {
            const group = order.slice(i, i + parallel);
            await Promise.all(
              group.map((e) => ledger.database.tenantTx(tenant, (trx) => applyRestoreChange(trx, e))),
            );
            highest = Math.max(highest, ...group.map((e) => e.version));
            const now = await mirrorOf(final.sourceId);
            // Never behind what was delivered, never back: the mirror holds the newest version seen.
            expect((now!.context as { sourceVersion: number }).sourceVersion).toBe(highest);
          }
          const mirror = (await mirrorOf(final.sourceId))!;
          expect({
            status: mirror.status,
            outcome: mirror.outcome,
            counts: mirror.summary_counts,
            failures: mirror.failure_summary,
            version: (mirror.context as { sourceVersion: number }).sourceVersion,
            completedAt: mirror.completed_at?.getTime() ?? null,
            type: mirror.type,
          }).toEqual({
            status: final.status,
            outcome: final.outcome,
            counts: final.counts,
            failures: final.failures,
            version: final.version,
            completedAt: final.completedAt?.getTime() ?? null,
            type: 'restore.execute',
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('applying the same event twice changes nothing the second time', async () => {
    const events = domainHistory(tenant, {
      items: [{ action: 'create', fails: false }],
      batches: 1,
      cancelAfter: undefined,
      backupMissing: false,
    });
    const first = await ledger.database.tenantTx(tenant, (trx) => applyRestoreChange(trx, events[1]!));
    const again = await ledger.database.tenantTx(tenant, (trx) => applyRestoreChange(trx, events[1]!));
    const older = await ledger.database.tenantTx(tenant, (trx) => applyRestoreChange(trx, events[0]!));
    expect([first.applied, again.applied, older.applied]).toEqual([true, false, false]);
    expect((await mirrorOf(events[0]!.sourceId))!.status).toBe('running');
  });
});
