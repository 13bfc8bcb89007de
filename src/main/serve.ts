import type { FastifyInstance } from 'fastify';
import { ensureDemoUsers } from '../access/demo-user.ts';
import { seedDemo } from '../suite/demo.ts';
import { startDemoActivity } from '../suite/demo-activity.ts';
import { type Config, describeConfig } from './config.ts';
import { createHttpServer, createWorkerHttpServer } from './http.ts';
import { shutdown } from './shutdown.ts';
import { createRestoreRunService } from './suite.ts';
import { openLedger } from './tasks.ts';

export type RunningServer = {
  address: string;
  database: string;
  /** The demo owner's sign-in when demo data was seeded. */
  demo: { email: string; password: string } | null;
  /** Every demo user's sign-in (one per role per demo tenant) when demo data was seeded. */
  demoUsers: { tenant: string; role: string; email: string; password: string }[];
  /** A graceful stop: see shutdown(). */
  close(): Promise<void>;
};

/** The web server, API and an in-process worker on one ledger; `demo` seeds demo data first. */
export async function startServer(
  config: Config,
  options: { port: number; demo: boolean },
): Promise<RunningServer> {
  const ledger = await openLedger(config, { worker: true });
  let app: Awaited<ReturnType<typeof createHttpServer>> | null = null;
  try {
    app = await createHttpServer(ledger);
    let demo: RunningServer['demo'] = null;
    let demoUsers: RunningServer['demoUsers'] = [];
    let tenants: Awaited<ReturnType<typeof seedDemo>> = [];
    if (options.demo) {
      tenants = await seedDemo({ database: ledger.database, config, rootKey: ledger.rootKey });
      const users = await ensureDemoUsers(app.opsledger.access, tenants, ledger.rootKey);
      demo = users.owner;
      demoUsers = users.roles;
    }
    const address = await app.listen({ port: options.port, host: config.host });
    ledger.logger.info({ role: 'server', address, config: describeConfig(config) }, 'started');
    // A newcomer's first minute: a few runs queue, run and finish while they look.
    const stopActivity = options.demo
      ? startDemoActivity(
          { service: ledger.service, restoreRuns: createRestoreRunService(ledger), logger: ledger.logger },
          tenants,
        )
      : () => {};
    const running = app;
    return {
      address,
      database: ledger.database.kind === 'pglite' ? `embedded, in ${config.dataDir}` : 'PostgreSQL',
      demo,
      demoUsers,
      close: () => {
        stopActivity();
        return shutdown({ ledger, app: running, graceMs: config.shutdownGraceSeconds * 1000 });
      },
    };
  } catch (err) {
    await app?.close().catch(() => {});
    await ledger.close().catch(() => {});
    throw err;
  }
}

/**
 * A worker alone, for scaling out on PostgreSQL. With WORKER_PORT it answers /healthz, /readyz and
 * /metrics there; on close it stops taking work, lets runs in flight finish within the grace
 * period (its readiness says 503 meanwhile), then closes its listener and the ledger.
 */
export async function startWorker(
  config: Config,
): Promise<{ address: string | null; close(): Promise<void> }> {
  const ledger = await openLedger(config, { worker: true });
  let stopping = false;
  let app: FastifyInstance | null = null;
  let address: string | null = null;
  try {
    if (config.workerPort !== null) {
      app = await createWorkerHttpServer(ledger, () => stopping);
      address = await app.listen({ port: config.workerPort, host: config.host });
    }
  } catch (err) {
    await app?.close().catch(() => {});
    await ledger.close().catch(() => {});
    throw err;
  }
  const listening = app;
  ledger.logger.info({ role: 'worker', config: describeConfig(config) }, 'started');
  return {
    address,
    async close() {
      stopping = true;
      await ledger.worker?.stop({ graceMs: config.shutdownGraceSeconds * 1000 });
      await listening?.close();
      await ledger.close();
    },
  };
}
