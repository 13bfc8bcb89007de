import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphSimulator, type GraphSimulator } from '../src/graph/simulator.ts';
import { RETRYABLE_OUTCOMES } from '../src/ledger/vocabulary.ts';
import { backfillLegacy, describeDivergence, verifyLegacy } from '../src/suite/legacy/transition.ts';
import { pruneRuns } from '../src/worker/maintenance.ts';
import { findInDatabase, type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

const SECRET = 'Tr4nsition-Secret~value.abcdef123456';
const FAMILIES = ['appProtection', 'compliancePolicies', 'deviceConfigurations', 'settingsCatalog'];

/** mulberry32: a seeded sequence, so a failing run can be replayed with its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let sim: GraphSimulator;
let ledger: SuiteLedger;
const tenants: { id: string; directory: string; baseline: string }[] = [];

async function waitForQuiet(timeoutMs = 50_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await sql<{
      n: number;
    }>`select count(*)::int as n from operation_runs where status <> 'completed'`.execute(ledger.database.db);
    if (r.rows[0]!.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${r.rows[0]!.n} runs still active`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

beforeAll(async () => {
  sim = createGraphSimulator({ defaultPolicyCount: 6, pageSize: 4 });
  await sim.start();
  ledger = await startSuiteLedger({ simulator: sim });
  for (let i = 0; i < 3; i++) {
    const directory = `7a0c1d2e-3f40-4b51-8c62-d7e8f9a0b1c${i}`;
    sim.registerTenant(directory, { clientId: 'app', clientSecret: SECRET });
    const id = await ledger.createTenant(`Tenant ${i}`);
    await ledger.suite.connections.set(id, { directoryId: directory, clientId: 'app', clientSecret: SECRET });
    const backup = await ledger.run(id, 'backup.create', { name: 'Baseline' });
    tenants.push({ id, directory, baseline: (backup.context as any).links.backupSetId });
  }
  // One tenant cannot read app protection policies: its syncs that include them are partial.
  sim.injectFault(tenants[1]!.directory, 'appProtection', { kind: 'error', status: 403 });
  // Another answers slowly, so that its runs are still queued or running when they are cancelled.
  sim.injectFault(tenants[2]!.directory, '*', { kind: 'slow', delayMs: 40 });
});

afterAll(async () => {
  await ledger?.stop();
  await sim?.stop();
});

describe('parallel write and verify', () => {
  it('a randomised sequence of 200 operations across tenants leaves verify with zero divergences', async () => {
    const seed = Number(process.env.VERIFY_SEED ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    const pick = <T>(list: readonly T[]) => list[Math.floor(rnd() * list.length)]!;
    const started: { tenant: string; id: string }[] = [];
    const tally = { start: 0, cancel: 0, retry: 0 };
    for (let op = 0; op < 200; op++) {
      const t = pick(tenants);
      const roll = rnd();
      try {
        if (roll < 0.55) {
          const scope = FAMILIES.filter(() => rnd() < 0.5);
          const { run } = await ledger.service.start({
            tenantId: t.id,
            type: 'inventory.sync',
            inputs: scope.length ? { scope } : {},
            initiator: { kind: 'user', userId: '00000000-0000-4000-8000-000000000001', name: 'Rand' },
          });
          started.push({ tenant: t.id, id: run.id });
          tally.start++;
        } else if (roll < 0.75) {
          // Failed runs for retry to pick up: tenant 1 cannot read app protection policies, so a
          // sync of them alone fails every attempt. (A baseline that does not exist is refused at
          // the door and makes no run at all.)
          const { run } =
            rnd() < 0.7
              ? await ledger.service.start({
                  tenantId: t.id,
                  type: 'drift.generate',
                  inputs: { baselineId: t.baseline },
                  initiator: { kind: 'api', name: 'token' },
                })
              : await ledger.service.start({
                  tenantId: tenants[1]!.id,
                  type: 'inventory.sync',
                  inputs: { scope: ['appProtection'] },
                  initiator: { kind: 'api', name: 'token' },
                });
          started.push({ tenant: run.tenantId, id: run.id });
          tally.start++;
        } else if (roll < 0.88 && started.length > 0) {
          // Recent runs are the ones likely still active.
          const victim = pick(started.slice(-4));
          await ledger.service.cancel(victim.tenant, victim.id);
          tally.cancel++;
        } else if (started.length > 0) {
          const original = pick(started);
          const row = await ledger.service.getRow(original.tenant, original.id);
          if (row.status === 'completed' && RETRYABLE_OUTCOMES.includes(row.outcome)) {
            const retry = await ledger.service.retry(original.tenant, original.id, { kind: 'system' });
            started.push({ tenant: original.tenant, id: retry.id });
            tally.retry++;
          }
        }
      } catch (err) {
        // Racing a run to completion is part of the game: cancelling a finished run, or retrying
        // while an identical one is active, is a conflict, never a corrupted row.
        expect((err as Error).name, `seed ${seed}`).toBe('ConflictError');
      }
      if (op % 20 === 0) await new Promise((r) => setTimeout(r, 30));
    }
    await waitForQuiet();
    const outcomes = await sql<{ type: string; outcome: string; n: number }>`
      select type, outcome, count(*)::int as n from operation_runs group by 1, 2 order by 1, 2`.execute(
      ledger.database.db,
    );
    const seen = new Set(outcomes.rows.map((r) => r.outcome));
    expect([...seen].sort(), `seed ${seed}`).toEqual(
      expect.arrayContaining(['cancelled', 'failed', 'partially_succeeded', 'succeeded']),
    );
    expect(tally.start, `seed ${seed}`).toBeGreaterThan(100);
    const divergences = await verifyLegacy(ledger.database);
    expect(divergences.map(describeDivergence), `seed ${seed}`).toEqual([]);
    const legacy = await sql<{ n: number }>`
      select (select count(*) from inventory_sync_runs)::int + (select count(*) from drift_generation_runs)::int as n`.execute(
      ledger.database.db,
    );
    const canonical = await sql<{ n: number }>`
      select count(*)::int as n from operation_runs where type in ('inventory.sync', 'drift.generate')`.execute(
      ledger.database.db,
    );
    expect(legacy.rows[0]!.n).toBe(canonical.rows[0]!.n);
  });

  it('deleting or altering one legacy row makes verify report it by name', async () => {
    const [victim, altered] = await ledger.database.db
      .selectFrom('inventory_sync_runs')
      .select(['id', 'operation_run_id', 'tenant_id'])
      .where('status', '=', 'success')
      .orderBy('id')
      .limit(2)
      .execute();
    await ledger.database.db
      .deleteFrom('inventory_sync_runs')
      .where('tenant_id', '=', victim!.tenant_id)
      .where('id', '=', victim!.id)
      .execute();
    await ledger.database.db
      .updateTable('inventory_sync_runs')
      .set({ items_unchanged: 999_999 })
      .where('tenant_id', '=', altered!.tenant_id)
      .where('id', '=', altered!.id)
      .execute();
    const lines = (await verifyLegacy(ledger.database)).map(describeDivergence);
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.includes(victim!.operation_run_id!))).toMatch(/is missing/);
    expect(lines.find((l) => l.includes(altered!.id))).toMatch(/items_unchanged is 999999/);
  });

  it('backfill imports finished legacy-only rows once, however often it runs', async () => {
    const t = tenants[0]!.id;
    const old = (days: number) => new Date(Date.now() - days * 86_400_000);
    await ledger.database.db
      .insertInto('inventory_sync_runs')
      .values([
        {
          id: '018f0000-0000-7000-8000-000000000001',
          tenant_id: t,
          status: 'success',
          scope: '["appProtection"]',
          items_created: 4,
          created_at: old(200),
          started_at: old(200),
          finished_at: old(200),
        },
        {
          id: '018f0000-0000-7000-8000-000000000002',
          tenant_id: t,
          status: 'error',
          scope: '[]',
          error_message: 'token expired',
          created_at: old(199),
          // No finished_at: the import takes the row's last update as the time it ended.
          updated_at: old(199),
        },
        {
          id: '018f0000-0000-7000-8000-000000000003',
          tenant_id: t,
          status: 'in_progress',
          scope: '[]',
          created_at: old(198),
        },
      ])
      .execute();
    await ledger.database.db
      .insertInto('drift_generation_runs')
      .values({
        id: '018f0000-0000-7000-8000-000000000004',
        tenant_id: t,
        state: 'done',
        baseline_id: tenants[0]!.baseline,
        added_count: 2,
        created_at: old(197),
        finished_at: old(197),
      })
      .execute();
    const [first, second] = [await backfillLegacy(ledger.database), await backfillLegacy(ledger.database)];
    expect(first).toMatchObject({ imported: 3, notFinished: 1 });
    expect(first.byTable).toEqual({ inventory_sync_runs: 2, drift_generation_runs: 1, restore_runs: 0 });
    expect(second).toMatchObject({ imported: 0, notFinished: 1 });
    const imported = await ledger.database.db
      .selectFrom('operation_runs')
      .selectAll()
      .where('tenant_id', '=', t)
      .where(sql<boolean>`context ? 'backfilled'`)
      .orderBy('created_at')
      .execute();
    expect(imported.map((r) => [r.type, r.outcome, r.summary_counts])).toEqual([
      ['inventory.sync', 'succeeded', { created: 4, updated: 0, unchanged: 0, deleted: 0, failed: 0 }],
      ['inventory.sync', 'failed', { created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 }],
      ['drift.generate', 'succeeded', { added: 2, removed: 0, modified: 0 }],
    ]);
    // Imported runs keep the time they happened, not the time of the import.
    const legacyFirst = await ledger.database.db
      .selectFrom('inventory_sync_runs')
      .select(['created_at', 'operation_run_id'])
      .where('tenant_id', '=', t)
      .where('id', '=', '018f0000-0000-7000-8000-000000000001')
      .executeTakeFirstOrThrow();
    expect(legacyFirst.operation_run_id).toBe(imported[0]!.id);
    expect(imported[0]!.created_at.getTime()).toBe(legacyFirst.created_at.getTime());
    const remaining = (await verifyLegacy(ledger.database)).filter((d) => d.legacyId?.startsWith('018f0000'));
    expect(remaining.map((d) => [d.legacyId, d.problem])).toEqual([
      ['018f0000-0000-7000-8000-000000000003', 'has no canonical run (run backfill to import it)'],
    ]);
    // Pruning the imported runs (older than the retention) keeps their legacy rows: the link is
    // cleared and marked as retention's, so verify sees no divergence and backfill no new work.
    await pruneRuns({ database: ledger.database, retentionDays: 90, logger: ledger.logger });
    const left = await sql<{ id: string; operation_run_id: string | null; pruned: boolean }>`
      select id, operation_run_id, run_pruned_at is not null as pruned from inventory_sync_runs
      where id::text like '018f0000%' order by id`.execute(ledger.database.db);
    expect(left.rows).toEqual([
      { id: '018f0000-0000-7000-8000-000000000001', operation_run_id: null, pruned: true },
      { id: '018f0000-0000-7000-8000-000000000002', operation_run_id: null, pruned: true },
      { id: '018f0000-0000-7000-8000-000000000003', operation_run_id: null, pruned: false },
    ]);
    expect((await backfillLegacy(ledger.database)).imported).toBe(0);
    const afterPrune = (await verifyLegacy(ledger.database)).filter((d) =>
      d.legacyId?.startsWith('018f0000'),
    );
    expect(afterPrune.map((d) => d.legacyId)).toEqual(['018f0000-0000-7000-8000-000000000003']);
    expect(await findInDatabase(ledger, [SECRET])).toEqual([]);
    expect(ledger.logText()).not.toContain(SECRET);
  });
});

describe('LEGACY_WRITES=false', () => {
  it('writes no legacy row, and verify expects none', async () => {
    const off = await startSuiteLedger({ simulator: sim, env: { LEGACY_WRITES: 'false' } });
    try {
      const t = await off.createTenant('Off');
      await off.suite.connections.set(t, {
        directoryId: tenants[0]!.directory,
        clientId: 'app',
        clientSecret: SECRET,
      });
      const sync = await off.run(t, 'inventory.sync', {});
      const backup = await off.run(t, 'backup.create', {});
      const drift = await off.run(t, 'drift.generate', {
        baselineId: (backup.context as any).links.backupSetId,
      });
      expect([sync.outcome, drift.outcome]).toEqual(['succeeded', 'succeeded']);
      const rows = await sql<{ n: number }>`
        select (select count(*) from inventory_sync_runs)::int + (select count(*) from drift_generation_runs)::int as n`.execute(
        off.database.db,
      );
      expect(rows.rows[0]!.n).toBe(0);
      expect(await verifyLegacy(off.database)).toEqual([]);
    } finally {
      await off.stop();
    }
  });
});
