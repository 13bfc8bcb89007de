import { pino } from 'pino';
import { redact, redactDeep } from './redact.ts';

export type Logger = pino.Logger;

/**
 * The process logger. Every argument passes through redaction before it is written, so a secret
 * in an error message or an object never reaches a log line, whatever code logged it.
 */
export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      serializers: {
        err: (err: unknown) => {
          const e = err as { name?: string; message?: string; code?: unknown };
          return redactDeep({ type: e?.name, message: e?.message, code: e?.code });
        },
      },
      hooks: {
        logMethod(args, method) {
          const clean = args.map((a) => (typeof a === 'string' ? redact(a) : redactDeep(a)));
          return method.apply(this, clean as Parameters<typeof method>);
        },
      },
    },
    options.destination,
  );
}
