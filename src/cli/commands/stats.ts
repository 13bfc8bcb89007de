import type { Command } from '../command.ts';

export const statsRebuildCommand: Command = {
  name: 'stats:rebuild',
  summary: "Recomputes the Overview's daily statistics from the runs (after a load that bypassed triggers)",
  usage: 'stats:rebuild [--tenant <id>]',
  options: { tenant: { type: 'string' } },
  async run(ctx, values) {
    const tenant = typeof values.tenant === 'string' ? values.tenant.trim() : undefined;
    // The server's code is loaded only when this command runs (see command.ts).
    const { rebuildRunStats } = await import('../../main/tasks.ts');
    const r = await rebuildRunStats(ctx.config, tenant);
    ctx.out(`rebuilt the daily statistics of ${r.tenants} tenant(s): ${r.rows} row(s)`);
    return 0;
  },
};
