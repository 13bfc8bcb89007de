import path from 'node:path';
import type { Command } from '../command.ts';

/** The database and its wiring load only when a command runs (see Command in command.ts). */
const tasks = () => import('../../main/tasks.ts');

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'Applies pending database migrations',
  usage: 'migrate',
  async run(ctx) {
    const applied = await (await tasks()).migrateDatabase(ctx.config);
    ctx.out(
      applied.length
        ? `applied ${applied.length} migration(s): ${applied.join(', ')}`
        : 'the database is up to date',
    );
    return 0;
  },
};

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'Deletes completed runs older than RETENTION_DAYS, in small batches',
  usage: 'prune',
  async run(ctx) {
    const report = await (await tasks()).pruneExpiredRuns(ctx.config);
    ctx.out(
      `pruned ${report.deleted} run(s) completed more than ${ctx.config.retentionDays} days ago in ${report.batches} batch(es)`,
    );
    return 0;
  },
};

export const schemaDumpCommand: Command = {
  name: 'schema:dump',
  summary: 'Writes migrations/schema.sql from a freshly migrated embedded database',
  usage: 'schema:dump',
  async run(ctx) {
    const file = await (await tasks()).writeSchemaDump();
    ctx.out(`wrote ${path.relative(process.cwd(), file)}`);
    return 0;
  },
};
