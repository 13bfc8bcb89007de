import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../main/config.ts';

export type CommandContext = {
  config: Config;
  /** Where results go (stdout); logs go to stderr. */
  out: (line: string) => void;
  /** Writes without a newline (a live progress line); stdout. */
  write?: (text: string) => void;
  /** Whether stdout is a terminal (live lines) or a pipe or file (one line per change). */
  interactive?: boolean;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  stopSignal: Promise<void>;
};

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export type Command = {
  /** One word, or a group and a verb (`runs list`). */
  name: string;
  summary: string;
  usage: string;
  options?: ParseArgsConfig['options'];
  /** How many positional arguments the command takes (none unless said). */
  positionals?: { min: number; max: number };
  /** Returns the exit code. */
  run(ctx: CommandContext, values: OptionValues, positionals?: string[]): Promise<number>;
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
