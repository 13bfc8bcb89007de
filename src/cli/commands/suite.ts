import { ensureDemoUsers } from '../../access/demo-user.ts';
import { AccessService } from '../../access/service.ts';
import type { Database } from '../../db/database.ts';
import { migrate } from '../../db/migrator.ts';
import { openDatabaseFor } from '../../main/opsledger.ts';
import { loadRootKey } from '../../shared/secret-key.ts';
import { seedDemo } from '../../suite/demo.ts';
import { backfillLegacy, describeDivergence, verifyLegacy } from '../../suite/legacy/transition.ts';
import type { Command, CommandContext } from '../command.ts';

async function withDatabase<T>(ctx: CommandContext, fn: (database: Database) => Promise<T>): Promise<T> {
  const database = await openDatabaseFor(ctx.config);
  try {
    await migrate(database);
    return await fn(database);
  } finally {
    await database.close();
  }
}

export const backfillCommand: Command = {
  name: 'backfill',
  summary: 'Imports legacy run rows that have no canonical run (idempotent)',
  usage: 'backfill',
  async run(ctx) {
    const report = await withDatabase(ctx, (database) => backfillLegacy(database));
    const parts = Object.entries(report.byTable).map(([table, n]) => `${table}: ${n}`);
    ctx.out(`imported ${report.imported} legacy run(s) (${parts.join(', ')})`);
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
  summary: 'Compares every legacy run row with its canonical run; exits 1 on any divergence',
  usage: 'verify',
  async run(ctx) {
    const divergences = await withDatabase(ctx, (database) => verifyLegacy(database));
    for (const d of divergences) ctx.out(describeDivergence(d));
    ctx.out(
      divergences.length === 0
        ? 'no divergence between the legacy run tables and operation_runs'
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
    const rootKey = loadRootKey(ctx.config);
    const { tenants, users, owner } = await withDatabase(ctx, async (database) => {
      const tenants = await seedDemo({ database, config: ctx.config, rootKey });
      const access = new AccessService({ database });
      const { owner, roles } = await ensureDemoUsers(access, tenants, rootKey);
      return { tenants, users: roles, owner };
    });
    for (const t of tenants) {
      ctx.out(`${t.seeded ? 'seeded' : 'already seeded'}: ${t.name} (tenant ${t.id})`);
    }
    ctx.out(`sign in as ${owner.email} / ${owner.password} (owner of every demo tenant), or as one role:`);
    for (const u of users) ctx.out(`  ${u.tenant.padEnd(12)} ${u.role.padEnd(8)} ${u.email} / ${u.password}`);
    return 0;
  },
};

export const suiteCommands: Command[] = [demoCommand, backfillCommand, verifyCommand];
