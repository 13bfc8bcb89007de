import fs from 'node:fs';
import { CommanderError, Option, Command as Program } from 'commander';
import type { Config } from '../main/config.ts';
import { AppError, NotFoundError } from '../shared/errors.ts';
import { redact } from '../shared/redact.ts';
import { ApiError, useToken } from './api-client.ts';
import {
  AuthError,
  type Command,
  type CommandContext,
  EXIT,
  NotFoundCliError,
  type OptionSpec,
  type OptionValues,
  UsageError,
} from './command.ts';
import { commands } from './commands/index.ts';
import { safeText } from './output.ts';
import { readSecret } from './secrets.ts';

/**
 * `opsledger`'s argument parser (commander) built from the command definitions of
 * commands/index.ts: groups (`runs`, `schedules`) with their verbs, `--help` per command with its
 * examples, `--version`, and the exit codes of EXIT.
 */

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
}

const GLOBAL_HELP = `
Environment:
  OPSLEDGER_URL, OPSLEDGER_TOKEN, OPSLEDGER_TENANT   the server, API token and tenant of runs/schedules
  DATABASE_URL, DATA_DIR                            the database of serve, worker and the admin commands
  NO_COLOR                                          no colour even on a terminal

Exit codes:
  0 done   1 failed   2 bad usage   3 not found   4 no credential, or refused (401/403)

Examples:
  $ npm start                                   # a server with demo data on http://127.0.0.1:3000
  $ export OPSLEDGER_URL=http://127.0.0.1:3000
  $ opsledger token:create --email owner@example.test > ~/.opsledger-token
  $ export OPSLEDGER_TOKEN="$(cat ~/.opsledger-token)"
  $ opsledger runs list --status running
  $ opsledger runs list --json id,status,type
`;

function flagsOf(name: string, spec: OptionSpec): string {
  const head = `${spec.short ? `-${spec.short}, ` : ''}--${name}`;
  if (spec.type === 'boolean') return head;
  const value = spec.value ?? 'VALUE';
  return spec.optionalValue ? `${head} [${value}]` : `${head} <${value}>`;
}

function describe(cmd: Command): string {
  return cmd.description ? `${cmd.summary}\n\n${cmd.description}` : cmd.summary;
}

/** The exit code of an error a command threw, and its one line on stderr. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof AuthError) return EXIT.auth;
  if (err instanceof NotFoundCliError || err instanceof NotFoundError) return EXIT.notFound;
  if (err instanceof ApiError) {
    if (err.problem.status === 401 || err.problem.status === 403) return EXIT.auth;
    if (err.problem.status === 404) return EXIT.notFound;
  }
  return EXIT.failed;
}

function report(name: string, err: unknown) {
  if (err instanceof Error && err.name === 'ConfigError') {
    process.stderr.write(`opsledger: configuration error: ${err.message}\n`);
    return;
  }
  const message = err instanceof AppError || err instanceof Error ? err.message : String(err);
  // The command line's own messages are ours; anything else may carry a secret from below.
  const ours = err instanceof UsageError || err instanceof AuthError || err instanceof NotFoundCliError;
  const line = message.split('\n')[0] || 'failed';
  process.stderr.write(`opsledger ${name}: ${safeText(ours ? line : redact(line))}\n`);
  if (process.env.OPSLEDGER_DEBUG) console.error(err);
}

async function runCommand(cmd: Command, values: OptionValues, positionals: string[]): Promise<number> {
  if (cmd.positionals) {
    const { min, max } = cmd.positionals;
    if (positionals.length < min || positionals.length > max) {
      throw new UsageError(`usage: opsledger ${cmd.usage}`);
    }
  } else if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${safeText(positionals[0]).slice(0, 60)}"`);
  }
  if (cmd.options?.['token-stdin'] || cmd.options?.['token-file']) {
    useToken(await readSecret({ name: 'token', env: 'OPSLEDGER_TOKEN', values }));
  }
  let stop: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  let config: Config | null = null;
  // Loaded on first use: the API-client commands never read the server's configuration.
  const { loadConfig } = await import('../main/config.ts');
  const ctx: CommandContext = {
    get config() {
      config ??= loadConfig();
      return config;
    },
    out: (line) => process.stdout.write(`${line}\n`),
    write: (text) => process.stdout.write(text),
    interactive: Boolean(process.stdout.isTTY),
    stopSignal,
  };
  return cmd.run(ctx, values, positionals);
}

/** Builds the program; `exit` receives the command's exit code. */
export function buildProgram(exit: (code: number) => void): Program {
  const program = new Program('opsledger')
    .description('The ledger of long-running tenant operations: server, worker and command-line client.')
    .version(packageVersion(), '-V, --version', 'Print the version')
    .helpOption('-h, --help', 'Show help for a command')
    .showSuggestionAfterError(true)
    .addHelpText('after', GLOBAL_HELP)
    .configureHelp({ subcommandTerm: (c) => c.name() })
    .helpCommand('help [command]', 'Show help for a command')
    .exitOverride();
  program.configureOutput({
    writeErr: (text) => process.stderr.write(text),
    outputError: (text, write) => write(text.startsWith('error:') ? `opsledger: ${text.slice(7)}` : text),
  });
  const groups = new Map<string, Program>();
  for (const cmd of commands) {
    const [first, verb] = cmd.name.split(' ') as [string, string | undefined];
    let parent = program;
    if (verb) {
      let group = groups.get(first);
      if (!group) {
        group = program
          .command(first)
          .description(`Commands for ${first} on a server, over its API`)
          .configureHelp({ subcommandTerm: (c) => c.name() })
          .helpCommand(false)
          .exitOverride();
        groups.set(first, group);
      }
      parent = group;
    }
    const sub = parent
      .command(verb ?? first)
      .summary(cmd.summary)
      .description(describe(cmd))
      .usage(cmd.usage.slice(cmd.name.length).trim() || '[options]')
      .argument('[args...]')
      .exitOverride();
    const keys = new Map<string, string>();
    for (const [name, spec] of Object.entries(cmd.options ?? {})) {
      const option = new Option(flagsOf(name, spec), spec.description ?? '');
      if (spec.description?.startsWith('Not taken')) option.hideHelp();
      if (spec.multiple) option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
      sub.addOption(option);
      keys.set(option.attributeName(), name);
    }
    if (cmd.examples?.length) {
      sub.addHelpText('after', `\nExamples:\n${cmd.examples.map((e) => `  $ opsledger ${e}`).join('\n')}\n`);
    }
    sub.action(async (args: string[], opts: Record<string, unknown>) => {
      const values: OptionValues = {};
      for (const [attr, v] of Object.entries(opts))
        values[keys.get(attr) ?? attr] = v as OptionValues[string];
      try {
        exit(await runCommand(cmd, values, args));
      } catch (err) {
        report(cmd.name, err);
        exit(exitCodeOf(err));
      }
    });
  }
  return program;
}

/** Parses `argv` (without node and the script) and runs the command; returns its exit code. */
export async function runProgram(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => {
    code = c;
  });
  if (argv.length === 0) {
    process.stdout.write(program.helpInformation());
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      // A group without its verb prints the group's help (commander.help); anything else misused.
      return EXIT.usage;
    }
    throw err;
  }
}
