/**
 * The package's public entry (`import … from 'opsledger'`): what a suite needs to run the ledger
 * in its own process and register its own operation types. Everything else is internal.
 */
import { tenantRepository } from '../access/tenants.ts';
import type { Opsledger } from './opsledger.ts';

export { default as Type, type Static, type TSchema } from 'typebox';
export type {
  OperationContext,
  OperationHandler,
  OperationResult,
  OperationTypeDefinition,
  RunWriteHook,
  StartValidator,
} from '../ledger/catalog.ts';
export { CatalogError, defineOperationType, OperationCatalog } from '../ledger/catalog.ts';
export type { FailureEntry, Initiator, Run, RunRow } from '../ledger/run.ts';
export {
  AttemptTimeoutError,
  LeaseLostError,
  RunCancelledError,
  WorkerShutdownError,
} from '../ledger/run-errors.ts';
export type { NewScheduleRequest, Schedule, ScheduleService } from '../ledger/schedules.ts';
export type { OperationRunService, StartRequest, StartResult } from '../ledger/service.ts';
export {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '../shared/errors.ts';
export { createLogger, type Logger } from '../shared/logger.ts';
export type { AccessAdmin } from './admin.ts';
export { type Config, ConfigError, loadConfig } from './config.ts';
export { createHttpServer, type ServerOptions } from './http.ts';
export { createOpsledger, type DefinitionDeps, type Opsledger, type OpsledgerOptions } from './opsledger.ts';

/**
 * Registers one of the suite's tenants in the ledger (runs belong to a tenant), returning its id.
 * Idempotent when an id is given: a tenant that exists is left as it is.
 */
export async function createTenant(
  ledger: Pick<Opsledger, 'database'>,
  tenant: { name: string; id?: string },
) {
  return ledger.database.systemTx(async (trx) => {
    if (tenant.id && (await tenantRepository.exists(trx, tenant.id))) return tenant.id;
    return (await tenantRepository.create(trx, tenant)).id;
  });
}
