import { parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig } from '../main/config.ts';
import { AppError } from '../shared/errors.ts';
import { redact } from '../shared/redact.ts';
import { type Command, type CommandContext, type OptionValues, UsageError } from './command.ts';
import { commands } from './commands/index.ts';

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: opsledger <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `opsledger <command> --help` for the options of one command.',
    'Without DATABASE_URL every command uses the embedded database in DATA_DIR (default ./.data).',
  ].join('\n');
}

function commandHelp(cmd: Command): string {
  return [`Usage: opsledger ${cmd.usage}`, '', cmd.summary].join('\n');
}

function groupHelp(group: string): string {
  const members = commands.filter((c) => c.name.startsWith(`${group} `));
  const width = Math.max(...members.map((c) => c.name.length));
  return [
    `Usage: opsledger ${group} <command> [options]`,
    '',
    ...members.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...afterFirst] = argv;
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(`${help()}\n`);
    return first ? 0 : 2;
  }
  // A group's commands are two words (`runs list`); the group alone prints its commands.
  const isGroup = commands.some((c) => c.name.startsWith(`${first} `));
  const second = afterFirst[0];
  const cmd = isGroup
    ? commands.find((c) => c.name === `${first} ${second}`)
    : commands.find((c) => c.name === first);
  if (isGroup && !cmd) {
    const asked = !second || second === '--help' || second === '-h';
    if (!asked) process.stderr.write(`opsledger: unknown command "${first} ${second}"\n`);
    process.stdout.write(`${groupHelp(first)}\n`);
    return asked && second ? 0 : 2;
  }
  if (!cmd) {
    process.stderr.write(`opsledger: unknown command "${first}" (see opsledger --help)\n`);
    return 2;
  }
  const name = cmd.name;
  const rest = isGroup ? afterFirst.slice(1) : afterFirst;
  let values: OptionValues;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: rest,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: Boolean(cmd.positionals),
    });
    values = parsed.values as OptionValues;
    positionals = parsed.positionals;
  } catch (err) {
    process.stderr.write(`opsledger ${name}: ${(err as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${commandHelp(cmd)}\n`);
    return 0;
  }
  if (cmd.positionals) {
    const { min, max } = cmd.positionals;
    if (positionals.length < min || positionals.length > max) {
      process.stderr.write(`opsledger ${name}: usage: opsledger ${cmd.usage}\n`);
      return 2;
    }
  }
  let stop: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  let config: Config | null = null;
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
  try {
    return await cmd.run(ctx, values, positionals);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`opsledger ${name}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`opsledger: configuration error: ${err.message}\n`);
      return 1;
    }
    const message = err instanceof AppError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`opsledger ${name}: ${redact(message.split('\n')[0] ?? 'failed')}\n`);
    if (process.env.OPSLEDGER_DEBUG) console.error(err);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Commands that serve return only when asked to stop; the rest exit with their code.
process.exit(code);
