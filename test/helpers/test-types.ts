import Type from 'typebox';
import type { OperationResult, OperationTypeDefinition, StartValidator } from '../../src/ledger/catalog.ts';
import { NotFoundError } from '../../src/shared/errors.ts';

/** Observations of what handlers did, per run id, for assertions. */
export type HandlerLog = {
  started: string[];
  aborted: string[];
};

export type TaskInputs = {
  key: string;
  /** Attempts 1..failTimes throw; later attempts succeed. -1 fails always. */
  failTimes: number;
  sleepMs: number;
  /** Wait until the signal fires (for cancellation tests). */
  waitForAbort: boolean;
  partial: boolean;
  errorMessage: string;
  /** Attempts 1..hangAttempts wait for the signal (a worker that will be killed mid-run). */
  hangAttempts: number;
};

/** A configurable operation type for tests; its behaviour comes from its inputs. */
export function testTaskType(
  log: HandlerLog,
  overrides: Partial<OperationTypeDefinition> = {},
): OperationTypeDefinition {
  return {
    name: 'test.task',
    label: 'Test task',
    inputSchema: Type.Object(
      {
        key: Type.String({ minLength: 1, maxLength: 100 }),
        failTimes: Type.Integer({ default: 0, minimum: -1, maximum: 100 }),
        sleepMs: Type.Integer({ default: 0, minimum: 0, maximum: 600_000 }),
        waitForAbort: Type.Boolean({ default: false }),
        partial: Type.Boolean({ default: false }),
        errorMessage: Type.String({ default: 'boom', maxLength: 5000 }),
        hangAttempts: Type.Integer({ default: 0, minimum: 0, maximum: 100 }),
      },
      { additionalProperties: false },
    ),
    identityKeys: ['key'],
    countKeys: ['processed', 'failed'],
    timeoutSeconds: 300,
    maxAttempts: 3,
    retryDelaySeconds: 0,
    async handler(ctx): Promise<OperationResult> {
      const inputs = ctx.inputs as TaskInputs;
      log.started.push(ctx.run.id);
      if (inputs.sleepMs > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, inputs.sleepMs);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      if (inputs.waitForAbort || ctx.run.attempt <= inputs.hangAttempts) {
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          ctx.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
      if (ctx.signal.aborted) {
        log.aborted.push(ctx.run.id);
        throw ctx.signal.reason;
      }
      if (inputs.failTimes === -1 || ctx.run.attempt <= inputs.failTimes) {
        throw new Error(inputs.errorMessage);
      }
      await ctx.progress({ processed: 1 });
      return inputs.partial
        ? {
            outcome: 'partially_succeeded',
            counts: { processed: 1, failed: 1 },
            failures: [{ code: 'item_failed', message: 'one item failed' }],
          }
        : { counts: { processed: 2 } };
    },
    ...overrides,
  };
}

/**
 * A door for test.task like a suite type's (restore.execute refusing an unknown backup): a key
 * `missing:…` names something that does not exist (404, as a start would answer), a key `broken:…`
 * makes the check itself fail with the task's `errorMessage` (an unexpected error, which may carry
 * secrets). Any other key passes.
 */
export const testTaskDoor: StartValidator<TaskInputs> = async (_trx, { inputs }) => {
  if (inputs.key.startsWith('missing:')) throw new NotFoundError('target not found');
  if (inputs.key.startsWith('broken:')) throw new Error(inputs.errorMessage);
};
