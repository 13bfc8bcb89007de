import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, expect, it } from 'vitest';
import { tenantRepository } from '../src/access/tenants.ts';
import { MISSED_AFTER_MS } from '../src/ledger/schedules.ts';
import { loadConfig } from '../src/main/config.ts';
import { createOpsledger, type Opsledger } from '../src/main/opsledger.ts';
import { createLogger } from '../src/shared/logger.ts';
import { createTestDatabase } from './helpers/db.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import { CORPUS } from './helpers/secret-corpus.ts';
import { testTaskDoor, testTaskType } from './helpers/test-types.ts';

/**
 * One operator's bad schedule never stops another tenant's. Fifty tenants each have a schedule due
 * at the same moment; two poisoned schedules (written straight into the table, since the API now
 * refuses them at the door) are due a moment earlier, so the evaluator meets them first: one names
 * something that does not exist, the other's check fails with an error carrying secrets. On
 * PostgreSQL two worker processes evaluate them; on the embedded database (one process only) one
 * worker does. Every healthy schedule must fire its own due moment, not a later one; each poisoned
 * one records its failure, redacted, and moves on to its next firing.
 */
const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/schedule-worker.ts');
const TENANTS = 50;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Secret-bearing messages from the shared corpus, in one error text. */
const SECRET_CASES = CORPUS.slice(0, 8);
const POISON_MESSAGE = SECRET_CASES.map(([message]) => message).join(' | ');
const SECRETS = SECRET_CASES.flatMap(([, secrets]) => secrets);

async function processWorker(env: Record<string, string>, logs: string[]): Promise<() => Promise<void>> {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (d) => logs.push(String(d)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  cleanups.push(stop);
  return stop;
}

it('fifty tenants’ schedules due at once all fire their moment past two poisoned ones', async () => {
  const testDb = await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-poison-'));
  cleanups.push(async () => {
    await testDb.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const env: Record<string, string> = { DATA_DIR: dataDir, SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'warn' };
  if (testDb.url) env.DATABASE_URL = testDb.url;
  const definitions = [
    testTaskType({ started: [], aborted: [] }, { maxAttempts: 1, validate: testTaskDoor }),
  ];
  const logs: string[] = [];
  const control: Opsledger = await createOpsledger({
    config: loadConfig(env),
    definitions,
    logger: createLogger({ level: 'warn', destination: process.stderr as never }),
    worker: false,
    database: { ...testDb.database, close: async () => {} },
  });
  cleanups.push(() => control.close());

  const tenants: string[] = [];
  const schedules: { tenant: string; id: string }[] = [];
  for (let i = 0; i < TENANTS; i++) {
    const t = await control.database.systemTx((trx) => tenantRepository.create(trx, { name: `Fleet ${i}` }));
    tenants.push(t.id);
    // Once a year: only the firing made due below can be taken in this test.
    const s = await control.schedules.create(
      t.id,
      { name: 'yearly', type: 'test.task', inputs: { key: `tenant-${i}` }, cron: '0 0 1 1 *' },
      null,
    );
    schedules.push({ tenant: t.id, id: s.id });
  }
  // The API refuses both (the door of a start); they can only be written around it.
  await expect(
    control.schedules.create(
      tenants[0]!,
      { name: 'bad', type: 'test.task', inputs: { key: 'missing:backup' }, cron: '0 0 1 1 *' },
      null,
    ),
  ).rejects.toMatchObject({ name: 'NotFoundError', message: 'target not found' });
  const poisoned = [
    { tenant: tenants[0]!, id: uuidv7(), inputs: { key: 'missing:backup' } },
    { tenant: tenants[1]!, id: uuidv7(), inputs: { key: 'broken:check', errorMessage: POISON_MESSAGE } },
  ];
  // Every schedule is due at the same moment a few seconds ahead (the poisoned ones a second
  // earlier, so every evaluator meets them first, one at a time the clock's JavaScript Date cannot
  // hold exactly); the workers start before it.
  const due = await control.database.systemTx(async (trx) => {
    const at = (
      await sql<{ at: Date }>`select date_trunc('second', now()) + interval '6 seconds' as at`.execute(trx)
    ).rows[0]!.at;
    for (const p of poisoned) {
      await sql`insert into schedules (id, tenant_id, name, type, inputs, cron, next_fire_at)
                values (${p.id}, ${p.tenant}, 'poisoned', 'test.task', ${JSON.stringify(p.inputs)}::jsonb,
                        '0 0 1 1 *', ${at}::timestamptz - interval '1 second' + ${poisoned.indexOf(p)} * interval '1 microsecond')`.execute(
        trx,
      );
    }
    await sql`update schedules set next_fire_at = ${at} where name = 'yearly'`.execute(trx);
    return new Date(at);
  });
  // The wake-up a create asks for at its next firing, asked for the moment written here.
  await control.schedules.fireDue({ max: 0 });

  const stops: (() => Promise<void>)[] = [];
  if (testDb.url) {
    stops.push(await processWorker(env, logs), await processWorker(env, logs));
  } else {
    const destination = new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    });
    const worker = await createOpsledger({
      config: loadConfig(env),
      definitions,
      logger: createLogger({ level: 'info', destination }),
      worker: true,
      database: { ...testDb.database, close: async () => {} },
    });
    cleanups.push(() => worker.close());
    stops.push(() => worker.close());
  }

  const deadline = Date.now() + 90_000;
  let fired: Awaited<ReturnType<typeof control.schedules.get>>[] = [];
  for (;;) {
    fired = await Promise.all(schedules.map((s) => control.schedules.get(s.tenant, s.id)));
    if (fired.every((s) => s.lastRunId) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await Promise.all(stops.map((stop) => stop()));

  // Every healthy schedule fired the moment it was due, within the window a firing counts as on
  // time (past it, the evaluator would call the firing missed).
  expect(fired.filter((s) => !s.lastRunId).map((s) => s.tenantId)).toEqual([]);
  const lateness: number[] = [];
  for (const [i, s] of fired.entries()) {
    expect(s.lastError).toBeNull();
    const run = await control.service.get(schedules[i]!.tenant, s.lastRunId!);
    const links = run.context.links as Record<string, string>;
    expect(links).toMatchObject({ schedule: s.id, scheduledFor: due.toISOString() });
    const late = new Date(s.lastFiredAt!).getTime() - due.getTime();
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(MISSED_AFTER_MS);
    lateness.push(late);
  }
  // Each poisoned schedule: its failure recorded on it, redacted, and moved to next year.
  const [missing, broken] = await Promise.all(poisoned.map((p) => control.schedules.get(p.tenant, p.id)));
  for (const p of [missing!, broken!]) {
    expect(p.lastRunId).toBeNull();
    expect(p.lastFiredAt).not.toBeNull();
    expect(new Date(p.nextFireAt!).getTime()).toBeGreaterThan(Date.now() + 86_400_000);
  }
  expect(missing!.lastError).toMatchObject({ code: 'not_found', message: 'target not found' });
  expect(broken!.lastError).toMatchObject({ code: 'start_failed' });
  expect(broken!.lastError!.message).toContain('[REDACTED]');
  const stored = await sql<{
    t: string;
  }>`select last_error::text as t from schedules where id = ${poisoned[1]!.id}`.execute(control.database.db);
  const everywhere = [JSON.stringify(broken), stored.rows[0]!.t, logs.join('')].join('\n');
  for (const secret of SECRETS) expect(everywhere).not.toContain(secret);
  lateness.sort((a, b) => a - b);
  console.log(
    `[schedules-poison] ${fired.length} schedules of ${TENANTS} tenants fired past 2 poisoned ones; fired after their moment: median ${lateness[Math.floor(lateness.length / 2)]}ms, max ${lateness.at(-1)}ms (${testDb.url ? 'two worker processes on PostgreSQL' : 'one worker on the embedded database'})`,
  );
});
