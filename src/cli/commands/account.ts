import fs from 'node:fs';
import { type Command, type OptionValues, UsageError } from '../command.ts';

/**
 * The signed-in user's own account on a server: change the password, sign out everywhere. Both
 * need a session and the password (a token may do neither), so these sign in with email and
 * password, act, and sign out. A password is never an argument (it would show in `ps` and in shell
 * history): it comes from the environment (OPSLEDGER_PASSWORD, OPSLEDGER_NEW_PASSWORD), a file
 * (--password-file, --new-password-file) or standard input (--password-stdin: the current
 * password on the first line, the new one on the second).
 */

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

const serverOptions = {
  url: { type: 'string' },
  email: { type: 'string' },
  'password-file': { type: 'string' },
  'password-stdin': { type: 'boolean' },
  insecure: { type: 'boolean' },
} as const;

type Problem = { status?: number; title?: string; detail?: string };

/** The server's refusal, as one line (its words, never a password). */
class ServerRefused extends Error {
  override name = 'ServerRefused';
}

function serverUrl(values: OptionValues, env: NodeJS.ProcessEnv): string {
  const raw = (typeof values.url === 'string' ? values.url : env.OPSLEDGER_URL)?.trim();
  if (!raw) throw new UsageError('no server: set OPSLEDGER_URL or pass --url');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError('the server URL is not a valid URL (expected https://host:port)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError('the server URL must start with https:// (or http:// on this machine)');
  }
  // A password sent in clear to another machine is a password given away.
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname) && values.insecure !== true) {
    throw new UsageError(
      `refusing to send a password over plain http to ${url.hostname}; use https:// or --insecure`,
    );
  }
  return url.toString().replace(/\/+$/, '');
}

function email(values: OptionValues, env: NodeJS.ProcessEnv): string {
  const e = (typeof values.email === 'string' ? values.email : env.OPSLEDGER_EMAIL)?.trim();
  if (!e) throw new UsageError('no account: set OPSLEDGER_EMAIL or pass --email');
  return e;
}

function readSecretFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch {
    throw new UsageError(`cannot read the ${what} file ${file}`);
  }
}

function readStdin(): string {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch {
    throw new UsageError('--password-stdin: standard input could not be read');
  }
}

/** The current password and, when asked for, the new one, from the sources above (never argv). */
export function passwordsFrom(
  values: OptionValues,
  env: NodeJS.ProcessEnv,
  wantNew: boolean,
  stdin: () => string = readStdin,
): { current: string; next: string | null } {
  const lines = values['password-stdin'] === true ? stdin().split(/\r?\n/) : null;
  const pick = (line: number, fileFlag: string, envName: string, what: string): string => {
    const file = values[fileFlag];
    const value =
      lines !== null ? lines[line] : typeof file === 'string' ? readSecretFile(file, what) : env[envName];
    if (!value) {
      throw new UsageError(
        `no ${what}: set ${envName}, pass --${fileFlag} FILE, or send it on line ${line + 1} of --password-stdin`,
      );
    }
    return value;
  };
  const current = pick(0, 'password-file', 'OPSLEDGER_PASSWORD', 'password');
  const next = wantNew ? pick(1, 'new-password-file', 'OPSLEDGER_NEW_PASSWORD', 'new password') : null;
  return { current, next };
}

/** A signed-in session on the server: its cookie and CSRF token. */
async function signIn(base: string, user: string, password: string) {
  const res = await call(base, 'POST', '/api/v1/auth/login', { email: user, password });
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return { cookie, 'x-csrf-token': csrfToken };
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new ServerRefused(`cannot reach ${base}: ${cause?.code ?? (err as Error).message}`);
  }
  if (res.status >= 400) {
    const p = (await res.json().catch(() => ({}))) as Problem;
    // Printable characters only: the server's words reach a terminal.
    const detail = `${p.detail ?? p.title ?? ''}`.replace(/[\p{Cc}\p{Cf}]/gu, ' ');
    throw new ServerRefused(`${res.status} ${p.title ?? ''}: ${detail}`.replace(/\s+/g, ' ').trim());
  }
  return res;
}

export const accountPasswordCommand: Command = {
  name: 'account password',
  summary: 'Change your password on a server; ends your other sessions and revokes all your API tokens',
  usage:
    'account password [--url URL] [--email E] [--password-file F --new-password-file F | --password-stdin] [--insecure]\n' +
    '  passwords: OPSLEDGER_PASSWORD and OPSLEDGER_NEW_PASSWORD, the files, or two lines on stdin',
  options: { ...serverOptions, 'new-password-file': { type: 'string' } },
  async run(ctx, values) {
    const base = serverUrl(values, process.env);
    const user = email(values, process.env);
    const { current, next } = passwordsFrom(values, process.env, true);
    // A refusal (wrong password, weak new one) is thrown: one line on stderr and exit code 1.
    const session = await signIn(base, user, current);
    await call(base, 'POST', '/api/v1/me/password', { currentPassword: current, newPassword: next }, session);
    await call(base, 'POST', '/api/v1/auth/logout', undefined, session).catch(() => undefined);
    ctx.out('password changed; your other sessions have ended and your API tokens are revoked');
    return 0;
  },
};

export const accountLogoutEverywhereCommand: Command = {
  name: 'account logout-everywhere',
  summary: 'Sign out everywhere on a server: ends all your sessions and revokes all your API tokens',
  usage:
    'account logout-everywhere [--url URL] [--email E] [--password-file F | --password-stdin] [--insecure]\n' +
    '  password: OPSLEDGER_PASSWORD, the file, or the first line on stdin',
  options: serverOptions,
  async run(ctx, values) {
    const base = serverUrl(values, process.env);
    const user = email(values, process.env);
    const { current } = passwordsFrom(values, process.env, false);
    const session = await signIn(base, user, current);
    await call(base, 'POST', '/api/v1/auth/logout-everywhere', { password: current }, session);
    ctx.out('signed out everywhere; all your sessions have ended and your API tokens are revoked');
    return 0;
  },
};

export const accountCommands: Command[] = [accountPasswordCommand, accountLogoutEverywhereCommand];
