import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../main/config.ts';
import { AppError } from '../shared/errors.ts';
import { redact } from '../shared/redact.ts';
import { type Command, UsageError } from './command.ts';
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

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name ? 0 : 2;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`opsledger: unknown command "${name}" (see opsledger --help)\n`);
    return 2;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: rest,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (err) {
    process.stderr.write(`opsledger ${name}: ${(err as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${commandHelp(cmd)}\n`);
    return 0;
  }
  let stop: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  try {
    const config = loadConfig();
    return await cmd.run({ config, out: (line) => process.stdout.write(`${line}\n`), stopSignal }, values);
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
