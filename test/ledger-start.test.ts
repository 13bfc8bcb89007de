import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunQueue } from '../src/ledger/queue-port.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

const log: HandlerLog = { started: [], aborted: [] };
let fault: 'before-enqueue' | 'after-enqueue' | null = null;
let ledger: TestLedger;
let tenant: string;

async function countRows(key: string) {
  const runs = await sql<{ n: number }>`
    select count(*)::int as n from operation_runs where context->'inputs'->>'key' = ${key}`.execute(
    ledger.database.db,
  );
  const jobs = await sql<{ n: number }>`
    select count(*)::int as n from pgboss.job j
    where j.name = 'opsledger-runs' and j.data->>'runId' in (
      select id::text from operation_runs where context->'inputs'->>'key' = ${key})`.execute(
    ledger.database.db,
  );
  const allJobs = await sql<{
    n: number;
  }>`select count(*)::int as n from pgboss.job where name = 'opsledger-runs'`.execute(ledger.database.db);
  return { runs: runs.rows[0]!.n, jobs: jobs.rows[0]!.n, allJobs: allJobs.rows[0]!.n };
}

beforeAll(async () => {
  ledger = await startTestLedger({
    definitions: [testTaskType(log)],
    // No worker: these tests look at rows and jobs as start() leaves them.
    worker: false,
    wrapQueue: (real): RunQueue => ({
      async enqueue(trx, job, options) {
        if (fault === 'before-enqueue') throw new Error('injected fault before enqueue');
        await real.enqueue(trx, job, options);
        if (fault === 'after-enqueue') throw new Error('injected fault after enqueue');
      },
      cancel: (trx, jobId) => real.cancel(trx, jobId),
    }),
  });
  tenant = await ledger.createTenant('Contoso');
});
afterAll(async () => {
  await ledger?.stop();
});

describe('start', () => {
  it('100 concurrent identical starts create exactly one run and one job', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        ledger.service.start({
          tenantId: tenant,
          type: 'test.task',
          inputs: { key: 'dedupe' },
          initiator: { kind: 'system' },
        }),
      ),
    );
    const created = results.filter((r) => r.created);
    expect(created).toHaveLength(1);
    expect(new Set(results.map((r) => r.run.id)).size).toBe(1);
    expect(await countRows('dedupe')).toMatchObject({ runs: 1, jobs: 1 });
  });

  it('a start after the active run completed creates a new run', async () => {
    const first = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'again' },
      initiator: { kind: 'system' },
    });
    await ledger.service.cancel(tenant, first.run.id);
    const second = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'again' },
      initiator: { kind: 'system' },
    });
    expect(second.created).toBe(true);
    expect(second.run.id).not.toBe(first.run.id);
  });

  it('inputs that differ outside the identity keys still dedupe; other identities do not', async () => {
    const a = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'id-a', sleepMs: 5 },
      initiator: { kind: 'system' },
    });
    const b = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'id-a', sleepMs: 9 },
      initiator: { kind: 'system' },
    });
    const c = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'id-b' },
      initiator: { kind: 'system' },
    });
    expect(b).toMatchObject({ created: false, run: { id: a.run.id } });
    expect(c.created).toBe(true);
  });

  it('a failure after the run insert but before the enqueue leaves neither row nor job', async () => {
    const before = await countRows('fault-1');
    fault = 'before-enqueue';
    try {
      await expect(
        ledger.service.start({
          tenantId: tenant,
          type: 'test.task',
          inputs: { key: 'fault-1' },
          initiator: { kind: 'system' },
        }),
      ).rejects.toThrow(/before enqueue/);
    } finally {
      fault = null;
    }
    const after = await countRows('fault-1');
    expect(after).toEqual({ runs: 0, jobs: 0, allJobs: before.allJobs });
  });

  it('a failure after the enqueue but before commit leaves neither row nor job', async () => {
    const before = await countRows('fault-2');
    fault = 'after-enqueue';
    try {
      await expect(
        ledger.service.start({
          tenantId: tenant,
          type: 'test.task',
          inputs: { key: 'fault-2' },
          initiator: { kind: 'system' },
        }),
      ).rejects.toThrow(/after enqueue/);
    } finally {
      fault = null;
    }
    expect(await countRows('fault-2')).toEqual({ runs: 0, jobs: 0, allJobs: before.allJobs });
    // The same start then succeeds: nothing half-written blocks it.
    const ok = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: 'fault-2' },
      initiator: { kind: 'system' },
    });
    expect(ok.created).toBe(true);
    expect(await countRows('fault-2')).toMatchObject({ runs: 1, jobs: 1 });
  });

  it('rejects inputs that fail the schema and unknown types, writing nothing', async () => {
    const before = await countRows('x');
    await expect(
      ledger.service.start({
        tenantId: tenant,
        type: 'test.task',
        inputs: { key: 'x', failTimes: 'lots' },
        initiator: { kind: 'system' },
      }),
    ).rejects.toMatchObject({
      name: 'ValidationError',
      errors: [expect.objectContaining({ path: '/inputs/failTimes' })],
    });
    await expect(
      ledger.service.start({ tenantId: tenant, type: 'no.such', inputs: {}, initiator: { kind: 'system' } }),
    ).rejects.toMatchObject({ name: 'ValidationError' });
    expect(await countRows('x')).toEqual(before);
  });
});
