import Type from 'typebox';
import type { OperationTypeDefinition } from '../src/ledger/catalog.ts';

/** A trivial operation type, so the benchmark measures the ledger and queue, not a handler. */
export const noopType: OperationTypeDefinition = {
  name: 'test.task',
  label: 'Benchmark no-op',
  inputSchema: Type.Object(
    { key: Type.String({ minLength: 1, maxLength: 100 }) },
    { additionalProperties: false },
  ),
  identityKeys: ['key'],
  countKeys: ['processed'],
  timeoutSeconds: 60,
  maxAttempts: 1,
  async handler() {
    return { counts: { processed: 1 } };
  },
};
