import type { Command } from '../command.ts';
import { accessCommands } from './access.ts';
import { accountCommands } from './account.ts';
import { alertsCommands } from './alerts.ts';
import { migrateCommand, pruneCommand, schemaDumpCommand } from './maintenance.ts';
import { runsListCommand, runsStartCommand, runsViewCommand } from './runs.ts';
import { runsCancelCommand, runsRetryCommand, runsWatchCommand } from './runs-follow.ts';
import { scheduleCommands } from './schedules.ts';
import { serveCommand, workerCommand } from './serve.ts';
import { statsRebuildCommand } from './stats.ts';
import { suiteCommands } from './suite.ts';

/**
 * Every command of `opsledger`, in the order --help lists them. Each module here is loaded at
 * start: it must import nothing heavy at its top (see Command in ../command.ts).
 */
export const commands: Command[] = [
  serveCommand,
  workerCommand,
  migrateCommand,
  pruneCommand,
  schemaDumpCommand,
  statsRebuildCommand,
  ...accessCommands,
  ...suiteCommands,
  runsListCommand,
  runsViewCommand,
  runsStartCommand,
  runsWatchCommand,
  runsCancelCommand,
  runsRetryCommand,
  ...scheduleCommands,
  ...alertsCommands,
  ...accountCommands,
];
