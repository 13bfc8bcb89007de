import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, expect, it } from 'vitest';
import { tenantRepository } from '../src/access/tenants.ts';
import { loadConfig } from '../src/main/config.ts';
import { createOpsledger, type Opsledger } from '../src/main/opsledger.ts';
import { createLogger } from '../src/shared/logger.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import { testTaskType } from './helpers/test-types.ts';

/**
 * "Fires once across the fleet": two workers evaluate the same schedule every two seconds. On
 * PostgreSQL they are two separate worker processes; on the embedded database (one process only)
 * two ledgers share it in this process. Every firing either process logs must be a distinct
 * moment, each started run must be its own, and after the workers stop the schedule is still
 * there and a new worker fires it.
 */
const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/schedule-worker.ts');
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

type Firing = { scheduleId: string; scheduledFor: string; runId: string; created: boolean; who: string };

/** A worker that reports each firing it makes. */
type FleetWorker = { stop(): Promise<void> };

function parseFirings(text: string, who: string, into: Firing[]) {
  for (const line of text.split('\n')) {
    if (!line.includes('"schedule fired"')) continue;
    const entry = JSON.parse(line) as Omit<Firing, 'who'>;
    into.push({ ...entry, who });
  }
}

async function processWorker(
  env: Record<string, string>,
  who: string,
  firings: Firing[],
): Promise<FleetWorker> {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let pending = '';
  child.stderr!.on('data', (d) => {
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    parseFirings(lines.join('\n'), who, firings);
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`${who} exited with ${code}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  cleanups.push(stop);
  return { stop };
}

async function inProcessWorker(
  testDb: TestDatabase,
  env: Record<string, string>,
  who: string,
  firings: Firing[],
) {
  const destination = new Writable({
    write(chunk, _enc, cb) {
      parseFirings(chunk.toString(), who, firings);
      cb();
    },
  });
  const ledger = await createOpsledger({
    config: loadConfig(env),
    definitions: [testTaskType({ started: [], aborted: [] }, { maxAttempts: 1 })],
    logger: createLogger({ level: 'info', destination }),
    worker: true,
    // Shared with the other ledgers here: stopping this one must leave the database open.
    database: { ...testDb.database, close: async () => {} },
  });
  return { stop: () => ledger.close() };
}

it('two workers: each firing is taken once and starts one run; the schedule outlives them', async () => {
  const testDb = await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-fleet-'));
  cleanups.push(async () => {
    await testDb.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const env: Record<string, string> = { DATA_DIR: dataDir, SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'warn' };
  if (testDb.url) env.DATABASE_URL = testDb.url;
  // The ledger the test drives has no worker: the two below do all the firing.
  const control: Opsledger = await createOpsledger({
    config: loadConfig(env),
    definitions: [testTaskType({ started: [], aborted: [] }, { maxAttempts: 1 })],
    logger: createLogger({ level: 'warn', destination: process.stderr as never }),
    worker: false,
    database: { ...testDb.database, close: async () => {} },
  });
  cleanups.push(() => control.close());
  const tenant = await control.database.systemTx((trx) => tenantRepository.create(trx, { name: 'Fleet' }));

  const firings: Firing[] = [];
  const start = (who: string) =>
    testDb.url ? processWorker(env, who, firings) : inProcessWorker(testDb, env, who, firings);
  const workers = [await start('worker-1'), await start('worker-2')];
  const schedule = await control.schedules.create(
    tenant.id,
    { name: 'fleet', type: 'test.task', inputs: { key: 'fleet' }, cron: '*/2 * * * * *' },
    null,
  );
  const deadline = Date.now() + 60_000;
  while (firings.filter((f) => f.created).length < 6 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
  }
  await control.schedules.pause(tenant.id, schedule.id);
  await Promise.all(workers.map((w) => w.stop()));

  const ours = firings.filter((f) => f.scheduleId === schedule.id);
  expect(ours.filter((f) => f.created).length).toBeGreaterThanOrEqual(6);
  // No moment was fired twice, by the same worker or by the other.
  const moments = ours.map((f) => f.scheduledFor);
  expect(new Set(moments).size).toBe(moments.length);
  // Every run started is its own, and it ran to success.
  const created = ours.filter((f) => f.created).map((f) => f.runId);
  expect(new Set(created).size).toBe(created.length);
  const runs = await control.service.list(tenant.id, { initiator: 'schedule', limit: '100' });
  expect(runs.data.map((r) => r.id).sort()).toEqual([...created].sort());
  // How late after its moment each firing's run was created: reported, never asserted.
  const lateness = runs.data
    .map(
      (r) =>
        new Date(r.createdAt).getTime() -
        new Date(
          String(r.context.links && (r.context.links as Record<string, string>).scheduledFor),
        ).getTime(),
    )
    .sort((a, b) => a - b);
  const byWorker = Object.groupBy(ours, (f) => f.who);
  console.log(
    `[schedules-fleet] ${ours.length} firings: ${Object.entries(byWorker)
      .map(([who, list]) => `${who} ${list?.length ?? 0}`)
      .join(
        ', ',
      )}; run created after its moment: median ${lateness[Math.floor(lateness.length / 2)]}ms, max ${lateness.at(-1)}ms (${testDb.url ? 'two processes on PostgreSQL' : 'two ledgers on the embedded database'})`,
  );

  // The schedule is a row: resumed, a worker started afresh fires it.
  await control.schedules.resume(tenant.id, schedule.id);
  const after = firings.length;
  const third = await start('worker-3');
  const until = Date.now() + 30_000;
  while (!firings.slice(after).some((f) => f.created && f.who === 'worker-3') && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
  }
  await control.schedules.pause(tenant.id, schedule.id);
  await third.stop();
  expect(firings.slice(after).some((f) => f.created && f.who === 'worker-3')).toBe(true);
});

it('twenty evaluations racing for one due firing start exactly one run', async () => {
  const testDb = await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-race-'));
  const env: Record<string, string> = { DATA_DIR: dataDir, SECRET_KEY: TEST_SECRET_KEY };
  if (testDb.url) env.DATABASE_URL = testDb.url;
  const ledger = await createOpsledger({
    config: loadConfig(env),
    definitions: [testTaskType({ started: [], aborted: [] }, { maxAttempts: 1 })],
    logger: createLogger({ level: 'silent' }),
    worker: false,
    database: testDb.database,
  });
  cleanups.push(async () => {
    await ledger.close();
    await testDb.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const tenant = await ledger.database.systemTx((trx) => tenantRepository.create(trx, { name: 'Race' }));
  const schedule = await ledger.schedules.create(
    tenant.id,
    // Once a year: only the firing made due below can be taken.
    { name: 'race', type: 'test.task', inputs: { key: 'race' }, cron: '0 0 1 1 *' },
    null,
  );
  await sql`update schedules set next_fire_at = now() - interval '1 second' where id = ${schedule.id}`.execute(
    ledger.database.db,
  );
  // On PostgreSQL each evaluation holds its own connection: they really run at once.
  const reports = await Promise.all(Array.from({ length: 20 }, () => ledger.schedules.fireDue()));
  expect(reports.reduce((n, r) => n + r.fired + r.deduplicated, 0)).toBe(1);
  const runs = await ledger.service.list(tenant.id, { initiator: 'schedule' });
  expect(runs.data).toHaveLength(1);
  const after = await ledger.schedules.get(tenant.id, schedule.id);
  expect(new Date(after.nextFireAt!).getTime()).toBeGreaterThan(Date.now());
  expect(after.lastRunId).toBe(runs.data[0]!.id);
});
