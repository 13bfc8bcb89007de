import Type from 'typebox';
import type { OperationTypeDefinition } from '../src/ledger/catalog.ts';

/**
 * A trivial operation type, so the benchmarks measure the ledger and queue, not a handler. The
 * load benchmark gives it a few milliseconds of work (`sleepMs`) so runs overlap as real ones do.
 */
export const noopType: OperationTypeDefinition = {
  name: 'test.task',
  label: 'Benchmark no-op',
  inputSchema: Type.Object(
    {
      key: Type.String({ minLength: 1, maxLength: 100 }),
      sleepMs: Type.Integer({ default: 0, minimum: 0, maximum: 1000 }),
    },
    { additionalProperties: false },
  ),
  identityKeys: ['key'],
  countKeys: ['processed'],
  timeoutSeconds: 60,
  maxAttempts: 1,
  async handler({ inputs }) {
    const { sleepMs } = inputs as { sleepMs: number };
    if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs));
    return { counts: { processed: 1 } };
  },
};
