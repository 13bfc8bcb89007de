import type { Config } from '../main/config.ts';

export type CommandContext = {
  config: Config;
  /** Where results go (stdout); logs go to stderr. */
  out: (line: string) => void;
  /** Writes without a newline (a live progress line); stdout. */
  write?: (text: string) => void;
  /** Whether stdout is a terminal (colour, relative times, live lines) or a pipe or file (plain). */
  interactive?: boolean;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  stopSignal: Promise<void>;
};

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/**
 * One option of a command. `type` and `multiple` as node:util's parseArgs; `value` names the
 * argument in help (`--tenant ID`); `optionalValue` lets a string option be given bare
 * (`--json` or `--json id,status`: bare gives `true`).
 */
export type OptionSpec = {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description?: string;
  value?: string;
  optionalValue?: boolean;
};

/**
 * A command of `opsledger`: one definition object per command, listed once in commands/index.ts.
 *
 * Every command module is imported when the program starts, so a module imports only what is
 * light (this folder, src/shared, type-only imports elsewhere); anything heavy (the server, the
 * database, pg-boss, Fastify: src/main) is imported inside `run` with `await import(…)`, so the
 * API-client commands (`runs`, `schedules`) start in a few tens of milliseconds. A test checks it
 * (test/cli-program.test.ts).
 *
 * Exit codes (see EXIT): `run` returns 0 or 1 itself; throwing UsageError gives 2, an ApiError
 * gives 3 on 404 and 4 on 401/403, anything else 1 with its message on one line.
 */
export type Command = {
  /** One word, or a group and a verb (`runs list`). */
  name: string;
  /** One line, shown in lists of commands. */
  summary: string;
  /** The synopsis after `opsledger` (`runs view ID [--json]`); `--help` prints it. */
  usage: string;
  /** More paragraphs shown by `--help` after the summary. */
  description?: string;
  /** Example command lines shown by `--help` (each may end in `  # comment`). */
  examples?: string[];
  options?: Record<string, OptionSpec>;
  /** How many positional arguments the command takes (none unless said). */
  positionals?: { min: number; max: number };
  /** Returns the exit code. */
  run(ctx: CommandContext, values: OptionValues, positionals?: string[]): Promise<number>;
};

/** The exit codes of `opsledger`, documented in README.md ("Exit codes"). */
export const EXIT = {
  ok: 0,
  /** A failure: the server's problem, a run that did not succeed, a command that could not finish. */
  failed: 1,
  /** Wrong flags or arguments, or a missing setting (no server URL). */
  usage: 2,
  /** The run, schedule, tenant or user asked for does not exist (or is not visible to the caller). */
  notFound: 3,
  /** No credential, or the server refused it (401) or its role does not allow the action (403). */
  auth: 4,
} as const;

/** Wrong flags or arguments: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A missing or refused credential: printed as one line, exit code 4. */
export class AuthError extends Error {
  override name = 'AuthError';
}

/** Something asked for by id that does not exist: printed as one line, exit code 3. */
export class NotFoundCliError extends Error {
  override name = 'NotFoundCliError';
}

export function requireString(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${name} is required`);
  return v.trim();
}
