import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Database, Trx } from '../db/database.ts';
import { connectionRepository, GraphConnections } from '../graph/connections.ts';
import { nextFiring } from '../ledger/cron.ts';
import { type CompletedRunRecord, historyRepository, uuidv7At } from '../ledger/history.ts';
import type { FailureEntry, Initiator } from '../ledger/run.ts';
import { ValidationError } from '../shared/errors.ts';
import { snapshotFamilies } from './backup/create.ts';
import { backupRepository } from './backup/repository.ts';
import { seedRestoreHistory } from './demo-restores.ts';
import { driftLegacy, inventoryLegacy, type LegacySpec, legacyRepository } from './legacy/legacy.ts';
import { normalizeScope } from './policies.ts';

export type DemoDeps = { database: Database; config: { graphUrl: string }; rootKey: Buffer };
export type DemoOptions = {
  /** Reuse the process's connections (and its simulator); otherwise one is made and closed. */
  connections?: GraphConnections;
  now?: Date;
};
export type DemoTenant = { id: string; name: string; directoryId: string; seeded: boolean };

const DAY = 86_400_000;
const HISTORY_DAYS = 85;

export const DEMO_TENANTS = [
  {
    id: '0190f1a0-0000-7000-8000-00000000c0a1',
    name: 'Contoso',
    directoryId: '3f1c2b4a-1d2e-4f3a-9b4c-5d6e7f8a9b01',
  },
  {
    id: '0190f1a0-0000-7000-8000-00000000fab2',
    name: 'Fabrikam',
    directoryId: '3f1c2b4a-1d2e-4f3a-9b4c-5d6e7f8a9b02',
  },
  {
    id: '0190f1a0-0000-7000-8000-0000000000e3',
    name: 'Northwind Traders',
    directoryId: '3f1c2b4a-1d2e-4f3a-9b4c-5d6e7f8a9b03',
  },
] as const;

/** The fixed id of a tenant's baseline backup: its presence marks the tenant as fully seeded. */
export const baselineIdOf = (tenantId: string) =>
  uuidv7At(Date.UTC(2024, 0, 1), entropy(tenantId, 'baseline'));

function entropy(...parts: (string | number)[]): Buffer {
  return createHash('sha256').update(parts.join('|')).digest().subarray(0, 10);
}

/** A deterministic sequence per tenant, so every seeded tenant tells the same story each time. */
function sequence(seed: string) {
  let n = 0;
  return () => entropy(seed, n++).readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * Seeds three demo tenants: a Graph connection to the simulator (secret encrypted), a baseline
 * backup read from the simulator, about 90 days of completed runs with their parallel-written
 * legacy rows (some partial, some failed), and a few legacy-only rows from before the ledger for
 * `backfill` to import. Idempotent: each tenant is seeded in one transaction whose last write is
 * its baseline, and a tenant that has one is left alone, so a second run changes nothing.
 */
export async function seedDemo(deps: DemoDeps, options: DemoOptions = {}): Promise<DemoTenant[]> {
  if (deps.config.graphUrl !== 'simulator') {
    throw new ValidationError(
      'the demo talks to the Graph simulator: unset GRAPH_URL or set it to "simulator"',
    );
  }
  const connections = options.connections ?? new GraphConnections(deps);
  const now = options.now ?? new Date();
  const out: DemoTenant[] = [];
  try {
    for (const tenant of DEMO_TENANTS) {
      const baselineId = baselineIdOf(tenant.id);
      const existing = await deps.database.systemTx(async (trx) => {
        await trx
          .insertInto('tenants')
          .values({ id: tenant.id, name: tenant.name })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        await connectionRepository.upsert(
          trx,
          tenant.id,
          {
            directory_id: tenant.directoryId,
            client_id: 'opsledger-demo',
            client_secret_encrypted: connections.encrypt(connections.simulatorSecret(tenant.directoryId)),
            graph_url: null,
          },
          true,
        );
        await seedSchedules(trx, tenant.id);
        return backupRepository.getSet(trx, tenant.id, baselineId);
      });
      if (existing) {
        out.push({ ...tenant, seeded: false });
        continue;
      }
      const scope = normalizeScope(undefined);
      const items = await snapshotFamilies(await connections.clientFor(tenant.id), scope);
      await deps.database.systemTx(async (trx) => {
        // A concurrent demo may have seeded this tenant meanwhile; the lock makes one of them wait and skip.
        await sql`select id from tenants where id = ${tenant.id} for update`.execute(trx);
        if (await backupRepository.getSet(trx, tenant.id, baselineId)) return;
        await seedHistory(trx, tenant.id, baselineId, scope, items, now);
      });
      out.push({ ...tenant, seeded: true });
    }
  } finally {
    if (!options.connections) await connections.close();
  }
  return out;
}

/** What the demo tenants run on their own: the nightly sync the history shows, and a weekly backup. */
export const DEMO_SCHEDULES = [
  { name: 'nightly', type: 'inventory.sync', inputs: {}, cron: '0 2 * * *', timezone: 'Europe/Berlin' },
  {
    name: 'weekly backup',
    type: 'backup.create',
    inputs: { name: 'Weekly backup' },
    cron: '0 3 * * 0',
    timezone: 'Europe/Berlin',
  },
] as const;

async function seedSchedules(trx: Trx, tenantId: string): Promise<void> {
  for (const s of DEMO_SCHEDULES) {
    await trx
      .insertInto('schedules')
      .values({
        id: uuidv7At(Date.UTC(2024, 0, 1), entropy(tenantId, 'schedule', s.name)),
        tenant_id: tenantId,
        name: s.name,
        type: s.type,
        inputs: JSON.stringify(s.inputs),
        cron: s.cron,
        timezone: s.timezone,
        missed: 'once',
        next_fire_at: nextFiring(s.cron, s.timezone, new Date()),
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .execute();
  }
}

async function seedHistory(
  trx: Trx,
  tenantId: string,
  baselineId: string,
  scope: string[],
  items: Awaited<ReturnType<typeof snapshotFamilies>>,
  now: Date,
): Promise<void> {
  const rnd = sequence(tenantId);
  const at = (daysAgo: number, hour: number) =>
    new Date(
      Math.floor((now.getTime() - daysAgo * DAY) / DAY) * DAY +
        hour * 3_600_000 +
        Math.floor(rnd() * 3_000_000),
    );
  const run = async (
    spec: LegacySpec | null,
    r: Omit<CompletedRunRecord, 'tenantId' | 'completedAt' | 'startedAt'> & { seconds: number },
  ) => {
    const row = await historyRepository.insertCompleted(trx, {
      ...r,
      id: uuidv7At(r.createdAt.getTime(), entropy(tenantId, r.type, r.createdAt.getTime())),
      tenantId,
      startedAt: new Date(r.createdAt.getTime() + 800),
      completedAt: new Date(r.createdAt.getTime() + 800 + r.seconds * 1000),
    });
    if (row && spec) await legacyRepository.upsertForRun(trx, spec, row);
    return row;
  };
  const schedule: Initiator = { kind: 'schedule', name: 'nightly' };
  const api: Initiator = { kind: 'api', name: 'automation token' };
  const total = items.length;

  const baselineAt = at(HISTORY_DAYS, 9);
  const backupRun = await run(null, {
    type: 'backup.create',
    identityInputs: { scope },
    initiator: { kind: 'system', name: 'demo' },
    context: { inputs: { name: 'Baseline', scope }, links: { backupSetId: baselineId } },
    counts: { items: total, families: scope.length },
    failures: [],
    outcome: 'succeeded',
    createdAt: baselineAt,
    seconds: 6,
  });

  for (let day = HISTORY_DAYS - 1; day >= 1; day--) {
    const roll = rnd();
    const outcome = roll < 0.06 ? 'failed' : roll < 0.16 ? 'partially_succeeded' : 'succeeded';
    const updated = Math.floor(rnd() * 4);
    const failures: FailureEntry[] =
      outcome === 'failed'
        ? [
            {
              code: 'graph_unavailable',
              // The Graph client's tries within the run's last attempt (the run made 3 attempts).
              message: 'Graph GET /deviceManagement/deviceConfigurations failed with HTTP 503 after 5 tries',
              attempt: 3,
            },
          ]
        : outcome === 'partially_succeeded'
          ? [
              {
                code: 'graph_forbidden',
                message:
                  'appProtection: Graph GET /deviceAppManagement/managedAppPolicies failed with HTTP 403 (Forbidden)',
                attempt: 1,
                item: 'appProtection',
              },
            ]
          : [];
    await run(inventoryLegacy, {
      type: 'inventory.sync',
      identityInputs: { scope },
      initiator: day % 7 === 3 ? api : schedule,
      context: { inputs: { scope } },
      counts:
        outcome === 'failed'
          ? { created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 }
          : {
              created: day % 11 === 0 ? 1 : 0,
              updated,
              unchanged: total - updated - (outcome === 'partially_succeeded' ? 25 : 0),
              deleted: day % 13 === 0 ? 1 : 0,
              failed: outcome === 'partially_succeeded' ? 1 : 0,
            },
      failures,
      outcome,
      attempts: outcome === 'failed' ? 3 : 1,
      createdAt: at(day, 2),
      seconds: 20 + Math.floor(rnd() * 40),
    });
    if (day % 3 === 0) {
      const failed = rnd() < 0.08;
      await run(driftLegacy, {
        type: 'drift.generate',
        identityInputs: { baselineId },
        initiator: schedule,
        context: { inputs: { baselineId }, links: { baselineId } },
        counts: failed
          ? { added: 0, removed: 0, modified: 0 }
          : { added: Math.floor(rnd() * 3), removed: Math.floor(rnd() * 2), modified: Math.floor(rnd() * 5) },
        failures: failed
          ? [{ code: 'statement_timeout', message: 'canceling statement due to statement timeout' }]
          : [],
        outcome: failed ? 'failed' : 'succeeded',
        attempts: failed ? 2 : 1,
        createdAt: at(day, 3),
        seconds: 3 + Math.floor(rnd() * 5),
      });
    }
    if (day % 7 === 0) {
      const cancelled = day === 42;
      await run(null, {
        type: 'backup.create',
        identityInputs: { scope },
        initiator: cancelled ? api : schedule,
        context: { inputs: { name: `Weekly backup`, scope } },
        counts: cancelled ? { items: 0, families: 0 } : { items: total, families: scope.length },
        failures: [],
        outcome: cancelled ? 'cancelled' : 'succeeded',
        createdAt: at(day, 4),
        seconds: 5 + Math.floor(rnd() * 10),
      });
    }
  }

  // Rows the legacy code wrote before the ledger existed: `backfill` imports them.
  for (let i = 0; i < 4; i++) {
    const created = at(HISTORY_DAYS + 1 + i, 2);
    const status = (['success', 'partial', 'success', 'error'] as const)[i]!;
    await legacyRepository.insertUnlinked(trx, inventoryLegacy, {
      id: uuidv7At(created.getTime(), entropy(tenantId, 'legacy-inventory', i)),
      tenant_id: tenantId,
      status,
      scope: JSON.stringify(scope),
      items_created: i === 3 ? 0 : total,
      items_failed: status === 'partial' ? 1 : 0,
      error_message: status === 'error' ? 'Graph request timed out after 30000 ms' : null,
      created_at: created,
      started_at: created,
      finished_at: new Date(created.getTime() + 45_000),
    });
  }
  const driftCreated = at(HISTORY_DAYS + 2, 3);
  await legacyRepository.insertUnlinked(trx, driftLegacy, {
    id: uuidv7At(driftCreated.getTime(), entropy(tenantId, 'legacy-drift')),
    tenant_id: tenantId,
    state: 'done',
    baseline_id: null,
    added_count: 3,
    removed_count: 1,
    modified_count: 2,
    created_at: driftCreated,
    started_at: driftCreated,
    finished_at: new Date(driftCreated.getTime() + 4000),
  });

  // Last: the baseline marks the tenant as seeded.
  await backupRepository.createSet(
    trx,
    tenantId,
    { id: baselineId, name: 'Baseline', scope, runId: backupRun?.id ?? null, createdAt: baselineAt },
    items,
  );
  await seedRestoreHistory(trx, tenantId, baselineId, items, at, entropy);
}
