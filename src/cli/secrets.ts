import fs from 'node:fs';
import { text } from 'node:stream/consumers';
import { UsageError } from './command.ts';

/**
 * Secrets (a password, an API token) never come from the command line, where `ps` and the shell's
 * history keep them: they come from standard input (`--password-stdin`, as `docker login`), a file
 * (`--password-file`), the environment, or a prompt that does not echo when standard input is a
 * terminal.
 */

export type SecretSource = {
  /** The secret's name in messages and flags: `password` gives --password-stdin, --password-file. */
  name: string;
  /** The environment variable that may hold it. */
  env: string;
  values: Record<string, unknown>;
  /** Asks on the terminal when nothing else gives it (a password); else it is simply missing. */
  prompt?: string;
};

/** The options a secret is read through. */
export function secretOptions(name: string, env: string) {
  return {
    [`${name}-stdin`]: {
      type: 'boolean',
      description: `Read the ${name} from standard input (e.g. printf '%s' "$SECRET" | …)`,
    },
    [`${name}-file`]: {
      type: 'string',
      value: 'FILE',
      description: `Read the ${name} from a file (its first line)`,
    },
    // Refused with a pointer to the safe ways, rather than an unknown-option error.
    [name]: {
      type: 'string',
      value: 'SECRET',
      description: `Not taken: use ${env}, --${name}-stdin or --${name}-file`,
    },
  } as const;
}

const firstLine = (s: string) => s.replace(/\r?\n[\s\S]*$/, '');

async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onData = (chunk: string) => {
        for (const c of chunk) {
          if (c === '\r' || c === '\n' || c === '\u0004') {
            stdin.off('data', onData);
            return resolve(value);
          }
          if (c === '\u0003') {
            stdin.off('data', onData);
            return reject(new UsageError('cancelled'));
          }
          if (c === '\u007f' || c === '\b') value = value.slice(0, -1);
          else value += c;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

/** The secret from the first source given; null when none is (and no prompt is possible). */
export async function readSecret(source: SecretSource): Promise<string | null> {
  const { name, values } = source;
  if (typeof values[name] === 'string') {
    throw new UsageError(
      `--${name} is not taken: a secret on the command line is visible in ps and shell history; use ${source.env}, --${name}-stdin or --${name}-file`,
    );
  }
  const file = values[`${name}-file`];
  if (values[`${name}-stdin`] && typeof file === 'string') {
    throw new UsageError(`give --${name}-stdin or --${name}-file, not both`);
  }
  if (values[`${name}-stdin`]) {
    if (process.stdin.isTTY)
      throw new UsageError(`--${name}-stdin reads a pipe, and standard input is a terminal`);
    const secret = firstLine(await text(process.stdin));
    if (!secret) throw new UsageError(`--${name}-stdin: standard input was empty`);
    return secret;
  }
  if (typeof file === 'string') {
    let content: string;
    try {
      content = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        `--${name}-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    const secret = firstLine(content);
    if (!secret) throw new UsageError(`--${name}-file: ${file} is empty`);
    return secret;
  }
  const fromEnv = process.env[source.env];
  if (fromEnv) return fromEnv;
  if (source.prompt && process.stdin.isTTY && process.stderr.isTTY) return promptHidden(source.prompt);
  return null;
}
