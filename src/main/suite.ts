import type { GraphClientOptions } from '../graph/client.ts';
import { GraphConnections } from '../graph/connections.ts';
import type { GraphSimulator } from '../graph/simulator.ts';
import type { OperationTypeDefinition } from '../ledger/catalog.ts';
import { deriveKey } from '../shared/secret-key.ts';
import { backupCreateType } from '../suite/backup/create.ts';
import { driftGenerateType } from '../suite/drift/generate.ts';
import { inventorySyncType } from '../suite/inventory/sync.ts';
import { restoreExecuteType } from '../suite/restore/executor.ts';
import { RestoreRunService } from '../suite/restore/service.ts';
import type { DefinitionDeps, Opsledger } from './opsledger.ts';

export type SuiteOptions = {
  /** A simulator run by the caller (tests); by default GRAPH_URL=simulator starts one lazily. */
  simulator?: GraphSimulator;
  clientOptions?: Partial<GraphClientOptions>;
  /** Seconds between attempts of every type (tests shorten it). */
  retryDelaySeconds?: number;
};

export type Suite = {
  definitions: OperationTypeDefinition[];
  connections: GraphConnections;
  /** Stops what the suite started (the in-process Graph simulator). */
  close(): Promise<void>;
};

/** The suite's operation types (PRODUCT.md §4) and the Graph connections they share. */
export function createSuite(deps: DefinitionDeps, options: SuiteOptions = {}): Suite {
  const connections = new GraphConnections({
    database: deps.database,
    config: deps.config,
    rootKey: deps.rootKey,
    simulator: options.simulator,
    clientOptions: options.clientOptions,
  });
  const typeDeps = {
    database: deps.database,
    connections,
    legacyWrites: deps.config.legacyWrites,
    retryDelaySeconds: options.retryDelaySeconds,
  };
  return {
    definitions: [
      inventorySyncType(typeDeps),
      driftGenerateType(typeDeps),
      backupCreateType(typeDeps),
      restoreExecuteType(typeDeps),
    ],
    connections,
    close: () => connections.close(),
  };
}

/**
 * The operation types the suite ships, built with their dependencies. When the composition root
 * offers `onClose`, the in-process simulator is stopped with the ledger.
 */
export async function builtinOperationTypes(
  deps: DefinitionDeps & { onClose?: (fn: () => Promise<void>) => void },
): Promise<OperationTypeDefinition[]> {
  const suite = createSuite(deps);
  deps.onClose?.(suite.close);
  return suite.definitions;
}

/** The restore-runs service the API calls, over an opened ledger. */
export function createRestoreRunService(
  ledger: Pick<Opsledger, 'database' | 'service' | 'rootKey'>,
): RestoreRunService {
  return new RestoreRunService({
    database: ledger.database,
    runs: ledger.service,
    cursorKey: deriveKey(ledger.rootKey, 'cursor'),
  });
}

/** Tenants' Graph connections for the API: setting and reading them needs no simulator. */
export function createGraphConnectionService(
  ledger: Pick<Opsledger, 'database' | 'config' | 'rootKey'>,
): GraphConnections {
  return new GraphConnections({ database: ledger.database, config: ledger.config, rootKey: ledger.rootKey });
}
