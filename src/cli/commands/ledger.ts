import { createOpsledger, type Opsledger } from '../../app.ts';
import type { Config } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { builtinOperationTypes } from '../../operations/index.ts';

/** Opens the ledger for a command; logs go to stderr so stdout carries only results. */
export async function openLedger(config: Config, options: { worker: boolean }): Promise<Opsledger> {
  const logger = createLogger({ level: config.logLevel, destination: process.stderr as never });
  return createOpsledger({ config, definitions: builtinOperationTypes, logger, worker: options.worker });
}
