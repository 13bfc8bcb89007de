import { rebuildRunStats } from '../../main/tasks.ts';
import type { Command } from '../command.ts';

export const statsRebuildCommand: Command = {
  name: 'stats:rebuild',
  summary: "Recomputes the Overview's daily statistics from the runs (after a load that bypassed triggers)",
  usage: 'stats:rebuild [--tenant <id>]',
  options: { tenant: { type: 'string' } },
  async run(ctx, values) {
    const tenant = typeof values.tenant === 'string' ? values.tenant.trim() : undefined;
    const r = await rebuildRunStats(ctx.config, tenant);
    ctx.out(`rebuilt the daily statistics of ${r.tenants} tenant(s): ${r.rows} row(s)`);
    return 0;
  },
};
