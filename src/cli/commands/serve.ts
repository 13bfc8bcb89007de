import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';

const serving = () => import('../../main/serve.ts');

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
    const server = await (await serving()).startServer(ctx.config, { port, demo: Boolean(values.demo) });
    try {
      ctx.out(`Opsledger is serving on ${server.address} (database: ${server.database})`);
      if (server.demo) {
        ctx.out(
          `Demo sign-in: ${server.demo.email} / ${server.demo.password} (POST ${server.address}/api/v1/auth/login)`,
        );
        ctx.out('One user per role per demo tenant:');
        for (const u of server.demoUsers)
          ctx.out(`  ${u.tenant.padEnd(18)} ${u.role.padEnd(8)} ${u.email} / ${u.password}`);
      }
      if (server.database.startsWith('embedded')) {
        // The embedded database has one process: the admin commands cannot open it beside this one.
        ctx.out(
          "The embedded database is this process's alone: run user:create, token:create, member:add and demo before starting or after stopping it (or use DATABASE_URL); meanwhile, create API tokens in the UI or with POST /api/v1/me/tokens.",
        );
      }
      await ctx.stopSignal;
      ctx.out('Stopping: finishing work in flight');
    } finally {
      await server.close();
    }
    return 0;
  },
};

export const workerCommand: Command = {
  name: 'worker',
  summary: 'A worker alone, for scaling out (needs DATABASE_URL to share work with a server)',
  usage: 'worker',
  async run(ctx) {
    const worker = await (await serving()).startWorker(ctx.config);
    ctx.out(
      worker.address
        ? `Opsledger worker started (health and metrics on ${worker.address})`
        : 'Opsledger worker started (no health port: set WORKER_PORT)',
    );
    await ctx.stopSignal;
    await worker.close();
    return 0;
  },
};
