import type { Command } from '../command.ts';

const tasks = () => import('../../main/tasks.ts');

export const backfillCommand: Command = {
  name: 'backfill',
  summary: 'Imports legacy run rows and restore records that have no canonical run (idempotent)',
  usage: 'backfill',
  async run(ctx) {
    const report = await (await tasks()).backfill(ctx.config);
    const parts = Object.entries(report.byTable).map(([table, n]) => `${table}: ${n}`);
    ctx.out(`imported ${report.imported} run(s) (${parts.join(', ')})`);
    if (report.notFinished > 0) {
      ctx.out(
        `${report.notFinished} legacy row(s) are still pending or in progress and were left for a later backfill`,
      );
    }
    return 0;
  },
};

export const verifyCommand: Command = {
  name: 'verify',
  summary:
    'Compares every legacy run row and restore record with its canonical run; exits 1 on any divergence',
  usage: 'verify',
  async run(ctx) {
    const { verify, describeDivergence } = await tasks();
    const divergences = await verify(ctx.config);
    for (const d of divergences) ctx.out(describeDivergence(d));
    ctx.out(
      divergences.length === 0
        ? 'no divergence between the legacy run tables, the restore records and operation_runs'
        : `${divergences.length} divergence(s)`,
    );
    return divergences.length === 0 ? 0 : 1;
  },
};

export const demoCommand: Command = {
  name: 'demo',
  summary:
    'Seeds demo tenants, Graph simulator connections, a baseline, 90 days of history and a user per role per tenant (idempotent)',
  usage: 'demo',
  async run(ctx) {
    const { tenants, users, owner } = await (await tasks()).seedDemoData(ctx.config);
    for (const t of tenants) {
      ctx.out(`${t.seeded ? 'seeded' : 'already seeded'}: ${t.name} (tenant ${t.id})`);
    }
    ctx.out(`sign in as ${owner.email} / ${owner.password} (owner of every demo tenant), or as one role:`);
    for (const u of users) ctx.out(`  ${u.tenant.padEnd(12)} ${u.role.padEnd(8)} ${u.email} / ${u.password}`);
    return 0;
  },
};

export const suiteCommands: Command[] = [demoCommand, backfillCommand, verifyCommand];
