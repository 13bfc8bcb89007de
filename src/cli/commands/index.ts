import type { Command } from '../command.ts';
import { accessCommands } from './access.ts';
import { accountCommands } from './account.ts';
import { alertsCommands } from './alerts.ts';
import { migrateCommand, pruneCommand, schemaDumpCommand } from './maintenance.ts';
import { runsCommands } from './runs.ts';
import { scheduleCommands } from './schedules.ts';
import { serveCommand, workerCommand } from './serve.ts';
import { statsRebuildCommand } from './stats.ts';
import { suiteCommands } from './suite.ts';

/** Every command of `opsledger`, in the order --help lists them. */
export const commands: Command[] = [
  serveCommand,
  workerCommand,
  migrateCommand,
  pruneCommand,
  schemaDumpCommand,
  statsRebuildCommand,
  ...accessCommands,
  ...suiteCommands,
  ...runsCommands,
  ...scheduleCommands,
  ...alertsCommands,
  ...accountCommands,
];
