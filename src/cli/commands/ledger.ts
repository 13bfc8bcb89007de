import type { Config } from '../../main/config.ts';
import { createOpsledger, type Opsledger } from '../../main/opsledger.ts';
import { createLogger } from '../../shared/logger.ts';
import { builtinOperationTypes } from '../../suite/index.ts';

/** Opens the ledger for a command; logs go to stderr so stdout carries only results. */
export async function openLedger(config: Config, options: { worker: boolean }): Promise<Opsledger> {
  const logger = createLogger({ level: config.logLevel, destination: process.stderr as never });
  return createOpsledger({ config, definitions: builtinOperationTypes, logger, worker: options.worker });
}
