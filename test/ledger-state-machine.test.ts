import fc from 'fast-check';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunOutcome, RunStatus } from '../src/ledger/tables.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';
import { testTaskType } from './helpers/test-types.ts';

let ledger: TestLedger;

beforeAll(async () => {
  ledger = await startTestLedger({
    definitions: [testTaskType({ started: [], aborted: [] })],
    worker: false,
  });
});
afterAll(async () => {
  await ledger?.stop();
});

type ModelRun = {
  id: string;
  key: string;
  status: RunStatus;
  outcome: RunOutcome;
  attempts: number;
  cancelRequested: boolean;
  retryOf: string | null;
};

type Action =
  | { kind: 'start'; key: number }
  | { kind: 'markRunning'; run: number; staleJob: boolean }
  | { kind: 'heartbeat'; run: number }
  | { kind: 'progress'; run: number; n: number }
  | { kind: 'requeue'; run: number }
  | { kind: 'complete'; run: number; outcome: 'succeeded' | 'partially_succeeded' | 'failed' | 'cancelled' }
  | { kind: 'cancel'; run: number }
  | { kind: 'retry'; run: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    arbitrary: fc.record({ kind: fc.constant('start' as const), key: fc.integer({ min: 0, max: 2 }) }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('markRunning' as const),
      run: fc.nat(),
      staleJob: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
    }),
    weight: 4,
  },
  fc.record({ kind: fc.constant('heartbeat' as const), run: fc.nat() }),
  fc.record({ kind: fc.constant('progress' as const), run: fc.nat(), n: fc.integer({ min: 0, max: 1000 }) }),
  fc.record({ kind: fc.constant('requeue' as const), run: fc.nat() }),
  fc.record({
    kind: fc.constant('complete' as const),
    run: fc.nat(),
    outcome: fc.constantFrom('succeeded', 'partially_succeeded', 'failed', 'cancelled'),
  }),
  fc.record({ kind: fc.constant('cancel' as const), run: fc.nat() }),
  fc.record({ kind: fc.constant('retry' as const), run: fc.nat() }),
);

const isActive = (r: ModelRun) => r.status !== 'completed';
const seen: Record<string, number> = {};
const note = (k: string) => {
  seen[k] = (seen[k] ?? 0) + 1;
};

it('no sequence of calls reaches a state the model forbids', async () => {
  const svc = ledger.service;
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 40, size: 'max' }), async (actions) => {
      const tenant = await ledger.createTenant('Model');
      const runs: ModelRun[] = [];
      const pick = (i: number) => (runs.length ? runs[i % runs.length]! : null);
      const jobOf = async (r: ModelRun) => (await svc.getRow(tenant, r.id)).job_id!;
      for (const a of actions) {
        if (a.kind === 'start') {
          const key = `k${a.key}`;
          const active = runs.find((r) => r.key === key && isActive(r));
          const res = await svc.start({
            tenantId: tenant,
            type: 'test.task',
            inputs: { key },
            initiator: { kind: 'system' },
          });
          if (active) {
            expect(res).toMatchObject({ created: false, run: { id: active.id } });
          } else {
            expect(res.created).toBe(true);
            runs.push({
              id: res.run.id,
              key,
              status: 'queued',
              outcome: 'pending',
              attempts: 0,
              cancelRequested: false,
              retryOf: null,
            });
          }
          continue;
        }
        const r = pick(a.run);
        if (!r) continue;
        switch (a.kind) {
          case 'markRunning': {
            const job = a.staleJob ? uuidv7() : await jobOf(r);
            const row = await svc.markRunning(tenant, r.id, job, 'test.task');
            const allowed = !a.staleJob && isActive(r) && !r.cancelRequested;
            expect(row !== null).toBe(allowed);
            if (allowed) {
              note(r.cancelRequested ? 'markRunning-after-cancel' : 'markRunning');
              r.status = 'running';
              r.attempts++;
            }
            break;
          }
          case 'heartbeat': {
            const hb = await svc.heartbeat(tenant, r.id, await jobOf(r));
            expect(hb).toEqual({
              alive: r.status === 'running',
              cancelRequested: r.status === 'running' && r.cancelRequested,
            });
            break;
          }
          case 'progress':
            await svc.reportProgress(tenant, r.id, await jobOf(r), 'test.task', { processed: a.n });
            break;
          case 'requeue': {
            const row = await svc.requeue(tenant, r.id, await jobOf(r), { code: 'x', message: 'retrying' });
            expect(row !== null).toBe(r.status === 'running');
            if (row && r.cancelRequested) {
              r.status = 'completed';
              r.outcome = 'cancelled';
            } else if (row) r.status = 'queued';
            break;
          }
          case 'complete': {
            const row = await svc.complete(tenant, r.id, await jobOf(r), 'test.task', { outcome: a.outcome });
            expect(row !== null).toBe(isActive(r));
            if (row) {
              r.status = 'completed';
              r.outcome = a.outcome;
            }
            break;
          }
          case 'cancel': {
            if (!isActive(r)) {
              await expect(svc.cancel(tenant, r.id)).rejects.toMatchObject({ name: 'ConflictError' });
            } else if (r.status === 'queued') {
              expect(await svc.cancel(tenant, r.id)).toMatchObject({
                status: 'completed',
                outcome: 'cancelled',
              });
              r.status = 'completed';
              r.outcome = 'cancelled';
            } else {
              expect(await svc.cancel(tenant, r.id)).toMatchObject({ status: 'running' });
              note('cancel-running');
              r.cancelRequested = true;
            }
            break;
          }
          case 'retry': {
            const retryable =
              r.status === 'completed' && ['partially_succeeded', 'failed', 'cancelled'].includes(r.outcome);
            const blocked = runs.some((o) => o.key === r.key && isActive(o));
            if (!retryable || blocked) {
              await expect(svc.retry(tenant, r.id, { kind: 'system' })).rejects.toMatchObject({
                name: 'ConflictError',
              });
            } else {
              const run = await svc.retry(tenant, r.id, { kind: 'system' });
              runs.push({
                id: run.id,
                key: r.key,
                status: 'queued',
                outcome: 'pending',
                attempts: 0,
                cancelRequested: false,
                retryOf: r.id,
              });
            }
            break;
          }
        }
      }
      // The database agrees with the model, run by run.
      const rows = await ledger.database.db
        .selectFrom('operation_runs')
        .selectAll()
        .where('tenant_id', '=', tenant)
        .execute();
      expect(rows).toHaveLength(runs.length);
      for (const m of runs) {
        const row = rows.find((x) => x.id === m.id)!;
        expect({
          id: m.id,
          status: row.status,
          outcome: row.outcome,
          attempts: row.attempts,
          retryOf: row.retry_of_run_id,
        }).toEqual({
          id: m.id,
          status: m.status,
          outcome: m.outcome,
          attempts: m.attempts,
          retryOf: m.retryOf,
        });
        expect(row.outcome === 'pending').toBe(row.status !== 'completed');
        expect(row.completed_at === null).toBe(row.status !== 'completed');
      }
      // At most one active run per identity.
      const activeKeys = runs.filter(isActive).map((r) => r.key);
      expect(new Set(activeKeys).size).toBe(activeKeys.length);
    }),
    { numRuns: 150 },
  );
  console.log('[state machine] transitions exercised', JSON.stringify(seen));
});
