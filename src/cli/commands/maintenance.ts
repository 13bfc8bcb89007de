import fs from 'node:fs';
import path from 'node:path';
import { MIGRATIONS_DIR, migrate } from '../../db/migrator.ts';
import { dumpSchema } from '../../db/schema-dump.ts';
import { openDatabaseFor } from '../../main/opsledger.ts';
import { createLogger } from '../../shared/logger.ts';
import { pruneRuns } from '../../worker/maintenance.ts';
import type { Command } from '../command.ts';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'Applies pending database migrations',
  usage: 'migrate',
  async run(ctx) {
    const database = await openDatabaseFor(ctx.config);
    try {
      const applied = await migrate(database);
      ctx.out(
        applied.length
          ? `applied ${applied.length} migration(s): ${applied.join(', ')}`
          : 'the database is up to date',
      );
    } finally {
      await database.close();
    }
    return 0;
  },
};

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'Deletes completed runs older than RETENTION_DAYS, in small batches',
  usage: 'prune',
  async run(ctx) {
    const database = await openDatabaseFor(ctx.config);
    try {
      await migrate(database);
      const report = await pruneRuns({
        database,
        retentionDays: ctx.config.retentionDays,
        logger: createLogger({ level: ctx.config.logLevel, destination: process.stderr as never }),
      });
      ctx.out(
        `pruned ${report.deleted} run(s) completed more than ${ctx.config.retentionDays} days ago in ${report.batches} batch(es)`,
      );
    } finally {
      await database.close();
    }
    return 0;
  },
};

export const schemaDumpCommand: Command = {
  name: 'schema:dump',
  summary: 'Writes migrations/schema.sql from a freshly migrated embedded database',
  usage: 'schema:dump',
  async run(ctx) {
    const { openDatabase } = await import('../../db/database.ts');
    const database = await openDatabase({ kind: 'pglite-memory' });
    try {
      await migrate(database);
      const file = path.join(MIGRATIONS_DIR, 'schema.sql');
      fs.writeFileSync(file, await dumpSchema(database));
      ctx.out(`wrote ${path.relative(process.cwd(), file)}`);
    } finally {
      await database.close();
    }
    return 0;
  },
};
