import fc from 'fast-check';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIdentityHash } from '../src/ledger/identity.ts';
import { verifyLegacy } from '../src/suite/legacy/transition.ts';
import {
  type ExternalWriter,
  externalWriter,
  mirrorsOfSource,
  type Query,
  WRITER_ROLE,
} from './helpers/external-writer.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

/**
 * Restore records written by another application, by plain SQL in its own transactions (no
 * Opsledger code, no tenant setting, a role with no right on operation_runs), are mirrored into
 * operation_runs in the writer's own transaction.
 */

let ledger: SuiteLedger;
let writer: ExternalWriter;
let tenants: string[];

type ItemState = {
  family: string;
  externalId: string;
  action: string | null;
  result: string;
  error: string | null;
};
type Snapshot = {
  version: number;
  status: string;
  startedAt: Date | null;
  completedAt: Date | null;
  error: { code: string; message: string } | null;
  items: ItemState[];
};

const OUTCOME: Record<string, [string, string]> = {
  pending: ['queued', 'pending'],
  running: ['running', 'pending'],
  completed: ['completed', 'succeeded'],
  completed_with_errors: ['completed', 'partially_succeeded'],
  failed: ['completed', 'failed'],
  cancelled: ['completed', 'cancelled'],
};

function countsOf(items: ItemState[]) {
  const ok = (a: string) => items.filter((i) => i.result === 'succeeded' && i.action === a).length;
  return {
    total: items.length,
    created: ok('create'),
    updated: ok('update'),
    unchanged: ok('none'),
    failed: items.filter((i) => i.result === 'failed').length,
    skipped: items.filter((i) => i.result === 'skipped').length,
  };
}

const lifeArb = fc.record({
  items: fc.array(fc.record({ action: fc.constantFrom('create', 'update', 'none'), fails: fc.boolean() }), {
    maxLength: 6,
  }),
  batches: fc.integer({ min: 1, max: 3 }),
  cancelAfter: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  refused: fc.boolean(),
});

/** Every state another application's restore goes through, versions 1..n, items cumulative. */
function lifeOf(life: typeof lifeArb extends fc.Arbitrary<infer T> ? T : never): Snapshot[] {
  const t0 = Date.UTC(2026, 10, 1, 9, 0, 0);
  const items: ItemState[] = life.items.map((_, n) => ({
    family: 'deviceConfigurations',
    externalId: `item-${n}`,
    action: null,
    result: 'pending',
    error: null,
  }));
  const out: Snapshot[] = [];
  let status = 'pending';
  let startedAt: Date | null = null;
  let completedAt: Date | null = null;
  let error: Snapshot['error'] = null;
  const emit = () =>
    out.push({
      version: out.length + 1,
      status,
      startedAt,
      completedAt,
      error,
      items: structuredClone(items),
    });
  const end = (s: string) => {
    status = s;
    completedAt = new Date(t0 + 60_000 + out.length);
    emit();
  };
  emit();
  if (life.refused) {
    for (const i of items) i.result = 'skipped';
    error = { code: 'backup_not_found', message: 'the backup set does not exist' };
    end('failed');
    return out;
  }
  status = 'running';
  startedAt = new Date(t0 + 1000);
  emit();
  const per = Math.ceil(items.length / life.batches) || 1;
  for (let b = 0; b * per < items.length; b++) {
    if (life.cancelAfter !== undefined && b >= life.cancelAfter) {
      for (const i of items) if (i.result === 'pending') i.result = 'skipped';
      end('cancelled');
      return out;
    }
    for (let k = b * per; k < Math.min(items.length, (b + 1) * per); k++) {
      const spec = life.items[k]!;
      Object.assign(items[k]!, {
        action: spec.fails ? null : spec.action,
        result: spec.fails ? 'failed' : 'succeeded',
        error: spec.fails ? 'refused by Graph' : null,
      });
    }
    emit();
  }
  const { failed, total } = countsOf(items);
  end(failed === 0 ? 'completed' : failed === total ? 'failed' : 'completed_with_errors');
  return out;
}

/** The first state: the record and its pending items, in one transaction of the other application. */
async function create(q: Query, tenant: string, id: string, first: Snapshot) {
  await q(
    `insert into restore_runs (id, tenant_id, backup_set_id, status, version, initiator_kind, initiator_name, created_at)
     values ($1, $2, $3, $4, $5, 'api', 'suite restore job', $6)`,
    [
      id,
      tenant,
      '018f0000-0000-7000-8000-0000000000bb',
      first.status,
      first.version,
      new Date(Date.UTC(2026, 10, 1, 9)),
    ],
  );
  for (const i of first.items) {
    await q(
      `insert into restore_run_items (tenant_id, restore_run_id, family, external_id) values ($1, $2, $3, $4)`,
      [tenant, id, i.family, i.externalId],
    );
  }
}

/** A later state: item results first (only ever moving a pending item), then the record, with its version. */
async function deliver(q: Query, tenant: string, id: string, s: Snapshot) {
  for (const i of s.items.filter((x) => x.result !== 'pending')) {
    await q(
      `update restore_run_items set action = $5, result = $6, error_code = $7, error_message = $8
       where tenant_id = $1 and restore_run_id = $2 and family = $3 and external_id = $4 and result = 'pending'`,
      [tenant, id, i.family, i.externalId, i.action, i.result, i.error ? 'graph_forbidden' : null, i.error],
    );
  }
  await q(
    `update restore_runs set status = $3, version = $4, started_at = $5, completed_at = $6,
            error_code = $7, error_message = $8
     where tenant_id = $1 and id = $2`,
    [
      tenant,
      id,
      s.status,
      s.version,
      s.startedAt,
      s.completedAt,
      s.error?.code ?? null,
      s.error?.message ?? null,
    ],
  );
}

const mirrorsOf = (id: string) => mirrorsOfSource(ledger, id);

async function expectMirrored(tenant: string, id: string, final: Snapshot) {
  const mirrors = await mirrorsOf(id);
  expect(mirrors).toHaveLength(1);
  const m = mirrors[0]!;
  const record = await ledger.database.db
    .selectFrom('restore_runs')
    .select(['version', 'operation_run_id', 'status'])
    .where('tenant_id', '=', tenant)
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  const [status, outcome] = OUTCOME[final.status]!;
  expect({
    tenant: m.tenant_id,
    type: m.type,
    status: m.status,
    outcome: m.outcome,
    counts: m.summary_counts,
    version: (m.context as { sourceVersion: number }).sourceVersion,
    completedAt: m.completed_at ? new Date(m.completed_at).getTime() : null,
    failures: m.failure_summary.length,
    recordVersion: record.version,
    recordStatus: record.status,
    link: record.operation_run_id,
    identity: m.run_identity_hash,
  }).toEqual({
    tenant,
    type: 'restore.execute',
    status,
    outcome,
    counts: countsOf(final.items),
    version: final.version,
    completedAt: final.completedAt?.getTime() ?? null,
    failures: (final.error ? 1 : 0) + countsOf(final.items).failed,
    recordVersion: final.version,
    recordStatus: final.status,
    link: m.id,
    // Computed in the database exactly as the ledger computes it.
    identity: runIdentityHash(tenant, 'restore.execute', { sourceType: 'restore_run', sourceId: id }),
  });
}

beforeAll(async () => {
  // No worker: nothing of Opsledger runs while the other application writes.
  ledger = await startSuiteLedger({ worker: false });
  tenants = [await ledger.createTenant('Writer A'), await ledger.createTenant('Writer B')];
  writer = await externalWriter(ledger);
});

afterAll(async () => {
  await writer?.close();
  await ledger?.stop();
});

describe('restore records written by plain SQL', () => {
  it('in order, out of order and twice, the mirror ends in the record’s final state with its counts', async () => {
    await fc.assert(
      fc.asyncProperty(
        lifeArb,
        fc.constantFrom('in order', 'shuffled', 'twice'),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 20, maxLength: 20 }),
        fc.nat({ max: 1 }),
        fc.boolean(),
        async (life, delivery, keys, t, ownRole) => {
          const tenant = tenants[t]!;
          const id = uuidv7();
          const states = lifeOf(life);
          // The record has to exist before it can change; every later state may come in any order.
          let later = states.slice(1);
          if (delivery === 'shuffled') {
            later = later
              .map((s, i) => ({ s, k: keys[i % keys.length]! + i * 1e-9 }))
              .sort((a, b) => a.k - b.k)
              .map((x) => x.s);
          }
          if (delivery === 'twice') later = later.flatMap((s) => [s, s]);
          const role = ownRole ? { role: WRITER_ROLE } : {};
          await writer.tx((q) => create(q, tenant, id, states[0]!), role);
          // Mirrored within the writer's transaction: visible as soon as it commits.
          expect((await mirrorsOf(id))[0]?.status).toBe('queued');
          for (const s of later) await writer.tx((q) => deliver(q, tenant, id, s), role);
          await expectMirrored(tenant, id, states.at(-1)!);
        },
      ),
      { numRuns: 40 },
    );
    const divergences = (await verifyLegacy(ledger.database)).filter((d) => d.table === 'restore_runs');
    expect(divergences).toEqual([]);
  });

  it('a writer that knows nothing of versions still moves the mirror, one version per change', async () => {
    const tenant = tenants[0]!;
    const id = uuidv7();
    const at = new Date(Date.UTC(2026, 10, 2, 8));
    await writer.tx(async (q) => {
      await q(
        `insert into restore_runs (id, tenant_id, backup_set_id, initiator_kind, initiator_user_id, initiator_name)
         values ($1, $2, gen_random_uuid(), 'user', null, 'someone')`,
        [id, tenant],
      );
      await q(
        `insert into restore_run_items (tenant_id, restore_run_id, family, external_id) values ($1, $2, 'x', 'a')`,
        [tenant, id],
      );
    });
    await writer.tx((q) =>
      q(`update restore_runs set status = 'running', started_at = $3 where tenant_id = $1 and id = $2`, [
        tenant,
        id,
        at,
      ]),
    );
    await writer.tx(async (q) => {
      await q(
        `update restore_run_items set result = 'succeeded', action = 'update' where restore_run_id = $1`,
        [id],
      );
      await q(
        `update restore_runs set status = 'completed', completed_at = $3 where tenant_id = $1 and id = $2`,
        [tenant, id, at],
      );
    });
    // The same statement again is no change: no new version, nothing for the mirror.
    await writer.tx((q) =>
      q(`update restore_runs set status = 'completed', completed_at = $3 where tenant_id = $1 and id = $2`, [
        tenant,
        id,
        at,
      ]),
    );
    const [m] = await mirrorsOf(id);
    expect(m).toMatchObject({ status: 'completed', outcome: 'succeeded', initiator_kind: 'system' });
    expect(m!.summary_counts).toEqual({
      total: 1,
      created: 0,
      updated: 1,
      unchanged: 0,
      failed: 0,
      skipped: 0,
    });
    expect((m!.context as { sourceVersion: number }).sourceVersion).toBe(3);
  });
});
