import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../main/config.ts';

export type CommandContext = {
  config: Config;
  /** Where results go (stdout); logs go to stderr. */
  out: (line: string) => void;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  stopSignal: Promise<void>;
};

export type Command = {
  name: string;
  summary: string;
  usage: string;
  options?: ParseArgsConfig['options'];
  /** Returns the exit code. */
  run(ctx: CommandContext, values: Record<string, string | boolean | undefined>): Promise<number>;
};

/** Wrong flags or arguments: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function requireString(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${name} is required`);
  return v.trim();
}
