import fs from 'node:fs';
import path from 'node:path';
import { CredentialService } from '../access/credentials.ts';
import { ensureDemoUsers } from '../access/demo-user.ts';
import { isRole, ROLES } from '../access/roles.ts';
import { AccessService } from '../access/service.ts';
import type { Role } from '../access/tables.ts';
import { type Database, openDatabase } from '../db/database.ts';
import { MIGRATIONS_DIR, migrate } from '../db/migrator.ts';
import { dumpSchema } from '../db/schema-dump.ts';
import { rebuildDailyRollup } from '../ledger/stats-rollup.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { deriveKey, loadRootKey } from '../shared/secret-key.ts';
import { seedDemo } from '../suite/demo.ts';
import { backfillLegacy, describeDivergence, verifyLegacy } from '../suite/legacy/transition.ts';
import { pruneRuns } from '../worker/maintenance.ts';
import type { Config } from './config.ts';
import { createOpsledger, type Opsledger, openDatabaseFor } from './opsledger.ts';
import { builtinOperationTypes } from './suite.ts';

/**
 * What the command line does, wired here so the commands only parse arguments and print: each task
 * opens what it needs, migrates, does its work and closes, in one place.
 */

export { describeDivergence, isRole, ROLES, type Role };

/** Logs of one-shot commands go to stderr, so stdout carries only results. */
export function commandLogger(config: Config): Logger {
  return createLogger({ level: config.logLevel, destination: process.stderr as never });
}

/** Opens the database, migrates it, runs `fn` and closes it whatever happens. */
export async function withMigratedDatabase<T>(
  config: Config,
  fn: (database: Database) => Promise<T>,
): Promise<T> {
  const database = await openDatabaseFor(config);
  try {
    await migrate(database);
    return await fn(database);
  } finally {
    await database.close();
  }
}

/** The ledger with the suite's operation types, for serve and worker. */
export function openLedger(config: Config, options: { worker: boolean }): Promise<Opsledger> {
  return createOpsledger({
    config,
    definitions: builtinOperationTypes,
    logger: commandLogger(config),
    worker: options.worker,
  });
}

export async function migrateDatabase(config: Config): Promise<string[]> {
  const database = await openDatabaseFor(config);
  try {
    return await migrate(database);
  } finally {
    await database.close();
  }
}

export function pruneExpiredRuns(config: Config) {
  return withMigratedDatabase(config, (database) =>
    pruneRuns({ database, retentionDays: config.retentionDays, logger: commandLogger(config) }),
  );
}

/** Recomputes the Overview's daily rollup from the runs, of one tenant or of all. */
export function rebuildRunStats(config: Config, tenantId?: string) {
  return withMigratedDatabase(config, (database) => rebuildDailyRollup({ database }, tenantId));
}

/** Writes migrations/schema.sql from a freshly migrated in-memory database; returns the file. */
export async function writeSchemaDump(): Promise<string> {
  const database = await openDatabase({ kind: 'pglite-memory' });
  try {
    await migrate(database);
    const file = path.join(MIGRATIONS_DIR, 'schema.sql');
    fs.writeFileSync(file, await dumpSchema(database));
    return file;
  } finally {
    await database.close();
  }
}

export const backfill = (config: Config) =>
  withMigratedDatabase(config, (database) => backfillLegacy(database));
export const verify = (config: Config) => withMigratedDatabase(config, (database) => verifyLegacy(database));

/** Seeds the demo tenants, their history and a user per role; idempotent. */
export async function seedDemoData(config: Config) {
  const rootKey = loadRootKey(config);
  return withMigratedDatabase(config, async (database) => {
    const tenants = await seedDemo({ database, config, rootKey });
    const { owner, roles } = await ensureDemoUsers(new AccessService({ database }), tenants, rootKey);
    return { tenants, users: roles, owner };
  });
}

const withAccess = <T>(config: Config, fn: (access: AccessService, database: Database) => Promise<T>) =>
  withMigratedDatabase(config, (database) => fn(new AccessService({ database }), database));

export const createTenant = (config: Config, name: string) =>
  withAccess(config, (access) => access.createTenant(name));

export const createUser = (config: Config, input: { email: string; password: string; displayName: string }) =>
  withAccess(config, (access) => access.createUser(input));

export const findUserByEmail = (config: Config, email: string) =>
  withAccess(config, (access) => access.findUserByEmail(email));

export const addMember = (config: Config, tenantId: string, email: string, role: Role) =>
  withAccess(config, (access) => access.addMember(tenantId, email, role));

/** A new API token for the user with this email (null when there is none); the secret, shown once. */
export function createApiToken(config: Config, email: string, name: string): Promise<string | null> {
  return withAccess(config, async (access, database) => {
    const user = await access.findUserByEmail(email);
    if (!user) return null;
    const credentials = new CredentialService({
      database,
      csrfKey: deriveKey(loadRootKey(config), 'session'),
      tokenLifetime: { defaultDays: config.tokenDefaultDays, maxDays: config.tokenMaxDays },
    });
    return (await credentials.createToken(user.id, name)).secret;
  });
}
