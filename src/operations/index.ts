import type { DefinitionDeps } from '../app.ts';
import type { OperationTypeDefinition } from '../ledger/catalog.ts';

/** The operation types the suite ships (PRODUCT.md §4), built with their dependencies. */
export async function builtinOperationTypes(_deps: DefinitionDeps): Promise<OperationTypeDefinition[]> {
  return [];
}
