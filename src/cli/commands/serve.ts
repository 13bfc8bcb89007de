import { ensureDemoUsers } from '../../access/demo-user.ts';
import { buildHttpApp } from '../../http/app.ts';
import { seedDemo } from '../../suite/demo.ts';
import { createGraphConnectionService, createRestoreRunService } from '../../suite/index.ts';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { openLedger } from './ledger.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary:
    'Web server, API and an in-process worker; migrates first (--demo seeds demo data and a demo user)',
  usage: 'serve [--port N] [--demo]',
  options: { port: { type: 'string' }, demo: { type: 'boolean' } },
  async run(ctx, values) {
    let port = ctx.config.port;
    if (values.port !== undefined) {
      if (!/^\d{1,5}$/.test(String(values.port)) || Number(values.port) > 65535) {
        throw new UsageError('--port must be a number from 0 to 65535');
      }
      port = Number(values.port);
    }
    if (values.demo && ctx.config.production) throw new UsageError('--demo is not for NODE_ENV=production');
    const ledger = await openLedger(ctx.config, { worker: true });
    const app = await buildHttpApp({
      ledger,
      restoreRuns: createRestoreRunService(ledger),
      graphConnections: createGraphConnectionService(ledger),
    });
    try {
      let demo: { email: string; password: string } | null = null;
      if (values.demo) {
        const tenants = await seedDemo({
          database: ledger.database,
          config: ctx.config,
          rootKey: ledger.rootKey,
        });
        demo = (await ensureDemoUsers(app.opsledger.access, tenants, ledger.rootKey)).owner;
      }
      const address = await app.listen({ port, host: ctx.config.host });
      ctx.out(
        `Opsledger is serving on ${address} (database: ${ledger.database.kind === 'pglite' ? `embedded, in ${ctx.config.dataDir}` : 'PostgreSQL'})`,
      );
      if (demo) {
        ctx.out(`Demo sign-in: ${demo.email} / ${demo.password} (POST ${address}/api/v1/auth/login)`);
        ctx.out('One user per role per demo tenant also exists: `npx opsledger demo` lists their sign-ins.');
      }
      await ctx.stopSignal;
    } finally {
      await app.close();
      await ledger.close();
    }
    return 0;
  },
};

export const workerCommand: Command = {
  name: 'worker',
  summary: 'A worker alone, for scaling out (needs DATABASE_URL to share work with a server)',
  usage: 'worker',
  async run(ctx) {
    const ledger = await openLedger(ctx.config, { worker: true });
    ctx.out('Opsledger worker started');
    await ctx.stopSignal;
    await ledger.close();
    return 0;
  },
};
