import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrator.ts';
import { createBoss, prepareQueues } from '../../src/worker/boss-queue.ts';
import { describeTarget, withDatabaseName } from './target.ts';

/**
 * Migrates one template database for the whole run; every test file clones it (a template
 * database on PostgreSQL, a data-dir dump on the embedded database), because creating and
 * migrating a fresh one per file would dominate the suite's time.
 */
export default async function setup(project: TestProject) {
  const adminUrl = process.env.DATABASE_URL;
  console.log(`\n[opsledger tests] database: ${describeTarget()}\n`);
  if (adminUrl) {
    const template = `opsledger_tpl_${process.pid}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`drop database if exists ${template}`);
    await admin.query(`create database ${template}`);
    await admin.end();
    const url = withDatabaseName(adminUrl, template);
    const database = await openDatabase({ kind: 'postgres', url, max: 2 });
    await migrate(database);
    const boss = createBoss(database, { url, schedule: false, supervise: false });
    await boss.start();
    await prepareQueues(boss, database);
    await boss.stop({ graceful: false, close: true });
    await database.close();
    project.provide('pgTemplate', template);
    project.provide('pgliteDump', '');
    return async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${template} with (force)`);
      // Clones left by crashed files.
      const { rows } = await c.query<{ datname: string }>(
        `select datname from pg_database where datname like 'opsledger_t_${process.pid}_%'`,
      );
      for (const r of rows) await c.query(`drop database if exists ${r.datname} with (force)`);
      await c.end();
    };
  }
  const database = await openDatabase({ kind: 'pglite-memory' });
  await migrate(database);
  const boss = createBoss(database, { schedule: false, supervise: false });
  await boss.start();
  await prepareQueues(boss, database);
  await boss.stop({ graceful: false, close: false });
  const pglite = database.pglite as PGlite;
  const dump = await pglite.dumpDataDir('none');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-test-')), 'template.tar');
  fs.writeFileSync(file, Buffer.from(await dump.arrayBuffer()));
  await database.close();
  project.provide('pgTemplate', '');
  project.provide('pgliteDump', file);
  return async () => {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgTemplate: string;
    pgliteDump: string;
  }
}
