import { buildHttpApp } from '../../http/app.ts';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { openLedger } from './ledger.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Web server, API and an in-process worker; migrates first',
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
    const ledger = await openLedger(ctx.config, { worker: true });
    const app = await buildHttpApp({ ledger });
    try {
      const address = await app.listen({ port, host: ctx.config.host });
      ctx.out(
        `Opsledger is serving on ${address} (database: ${ledger.database.kind === 'pglite' ? `embedded, in ${ctx.config.dataDir}` : 'PostgreSQL'})`,
      );
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
