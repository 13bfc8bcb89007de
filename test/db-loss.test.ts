import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tenantRepository } from '../src/access/tenants.ts';
import { openDatabase } from '../src/db/database.ts';
import type { HttpApp } from '../src/http/app.ts';
import { loadConfig } from '../src/main/config.ts';
import { createHttpServer } from '../src/main/http.ts';
import { createOpsledger, type Opsledger } from '../src/main/opsledger.ts';
import { createLogger } from '../src/shared/logger.ts';
import { isProblem } from './helpers/api-fuzz.ts';
import { TEST_SECRET_KEY } from './helpers/ledger.ts';
import { clusterAt, freePort, initdb, ownForPostgres } from './helpers/pg-cluster.ts';
import { onPostgres } from './helpers/target.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

/** A PostgreSQL cluster of this test's own, in a temporary folder, on its own port. */
async function privateCluster() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-pgloss-'));
  const data = path.join(dir, 'data');
  ownForPostgres(dir);
  initdb(data);
  const cluster = clusterAt(dir, 'postgres', data, await freePort());
  cluster.start();
  return {
    ...cluster,
    destroy() {
      try {
        cluster.stop();
      } catch {
        // already stopped
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

let cleanup: (() => Promise<void>) | null = null;
afterAll(async () => {
  await cleanup?.();
});

describe.skipIf(!onPostgres())('losing the database', () => {
  it('answers 503 while it is down and, once back, completes every accepted start once, with no restart', async () => {
    console.log('[db-loss] PostgreSQL pass: a private cluster is stopped and started mid-run');
    const cluster = await privateCluster();
    let ledger: Opsledger | null = null;
    let app: HttpApp | null = null;
    cleanup = async () => {
      await app?.close().catch(() => {});
      await ledger?.close().catch(() => {});
      cluster.destroy();
    };
    const log: HandlerLog = { started: [], aborted: [] };
    const config = loadConfig({
      DATABASE_URL: cluster.url,
      SECRET_KEY: TEST_SECRET_KEY,
      STALE_RUN_SECONDS: '5',
      DATA_DIR: os.tmpdir(),
    });
    ledger = await createOpsledger({
      config,
      definitions: [testTaskType(log)],
      logger: createLogger({ level: 'silent' }),
      worker: true,
      database: await openDatabase({ kind: 'postgres', url: cluster.url }),
    });
    app = await createHttpServer(ledger, { suite: false, limits: { startsPerMinute: 100_000 } });
    const l = ledger;
    const a = app;
    const tenant = await l.database.systemTx((trx) => tenantRepository.create(trx, { name: 'Loss' }));
    const user = await a.opsledger.access.createUser({
      email: 'loss@example.test',
      password: 'survives-outages-1',
    });
    await a.opsledger.access.addMember(tenant.id, user.email, 'operator');
    const { secret } = await a.opsledger.credentials.createToken(user.id, 'loss');
    const headers = { authorization: `Bearer ${secret}` };
    const accepted = new Map<string, string>();
    const start = async (key: string) => {
      const res = await a.inject({
        method: 'POST',
        url: `/api/v1/tenants/${tenant.id}/operations`,
        headers,
        payload: { type: 'test.task', inputs: { key, sleepMs: 1500 } },
      });
      if (res.statusCode === 202) accepted.set(key, res.json().run.id);
      return res;
    };

    for (let i = 0; i < 8; i++) expect((await start(`before-${i}`)).statusCode).toBe(202);
    const deadline = Date.now() + 20_000;
    while (log.started.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(log.started.length).toBeGreaterThanOrEqual(1);

    cluster.stop();
    const down = [
      await start('while-down'),
      await a.inject({ url: `/api/v1/tenants/${tenant.id}/operations`, headers }),
    ];
    for (const res of down) {
      expect(res.statusCode, res.body).toBe(503);
      expect(isProblem(res)).toBe(true);
    }
    const ready = await a.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    // Some seconds down, with the worker and the stream listener trying all the while.
    await new Promise((r) => setTimeout(r, 3000));

    cluster.start();
    const backBy = Date.now() + 30_000;
    while ((await a.inject({ url: '/readyz' })).statusCode !== 200) {
      if (Date.now() > backBy) throw new Error('not ready again after the database came back');
      await new Promise((r) => setTimeout(r, 200));
    }
    for (let i = 0; i < 4; i++) expect((await start(`after-${i}`)).statusCode).toBe(202);

    // Every accepted start completes, exactly one run each, none stuck.
    const finishBy = Date.now() + 60_000;
    for (;;) {
      const rows = await l.database.systemTx((trx) =>
        trx.selectFrom('operation_runs').selectAll().where('tenant_id', '=', tenant.id).execute(),
      );
      if (rows.length === accepted.size && rows.every((r) => r.status === 'completed')) {
        expect(new Set(rows.map((r) => r.id))).toEqual(new Set(accepted.values()));
        expect(rows.map((r) => r.outcome)).toEqual(rows.map(() => 'succeeded'));
        console.log(
          `[db-loss] ${rows.length} runs completed; attempts ${JSON.stringify(rows.map((r) => r.attempts).sort())}`,
        );
        break;
      }
      if (Date.now() > finishBy) {
        throw new Error(
          `stuck: ${JSON.stringify(rows.map((r) => [r.status, r.attempts]))} of ${accepted.size}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    // Its own waits (a fresh cluster, 20 s to get runs going, 30 s to come back, 60 s to finish)
    // add up past the suite's 60 s default: the test's budget must cover them on a busy machine.
  }, 180_000);
});
