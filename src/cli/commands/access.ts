import { NotFoundError, ValidationError } from '../../shared/errors.ts';
import { isUuid } from '../../shared/ids.ts';
import { type Command, NotFoundCliError, requireString, UsageError } from '../command.ts';
import { readSecret, secretOptions } from '../secrets.ts';

/** The database loads only when a command runs (see Command in command.ts). */
const tasks = () => import('../../main/tasks.ts');
const ROLES = ['owner', 'operator', 'viewer'] as const;
type Role = (typeof ROLES)[number];
const isRole = (v: string): v is Role => (ROLES as readonly string[]).includes(v);

/** Bad values given on the command line are usage errors (exit 2), like bad flags. */
async function asUsage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(err.message);
    throw err;
  }
}

export const tenantCreateCommand: Command = {
  name: 'tenant:create',
  summary: 'Creates a tenant and prints its id',
  usage: 'tenant:create --name N',
  examples: ['tenant:create --name "Contoso"'],
  options: { name: { type: 'string', value: 'NAME', description: 'The tenant name' } },
  async run(ctx, values) {
    const name = requireString(values, 'name');
    if (name.length > 200) throw new UsageError('--name has at most 200 characters');
    const tenant = await (await tasks()).createTenant(ctx.config, name);
    ctx.out(tenant.id);
    return 0;
  },
};

export const userCreateCommand: Command = {
  name: 'user:create',
  summary: 'Creates a user who signs in with this email and password; prints the user id',
  usage: 'user:create --email E [--password-stdin | --password-file FILE] [--name DISPLAY_NAME]',
  description:
    'The password comes from standard input (--password-stdin), a file, OPSLEDGER_PASSWORD, or a prompt on a terminal: never from the command line.',
  examples: [
    'user:create --email ana@example.test --name "Ana"          # prompts for the password',
    `user:create --email ana@example.test --password-stdin < ana.password`,
  ],
  options: {
    email: { type: 'string', value: 'EMAIL', description: 'The sign-in email' },
    name: { type: 'string', value: 'NAME', description: 'The display name' },
    ...secretOptions('password', 'OPSLEDGER_PASSWORD'),
  },
  async run(ctx, values) {
    const email = requireString(values, 'email');
    const password = await readSecret({
      name: 'password',
      env: 'OPSLEDGER_PASSWORD',
      values,
      prompt: `Password for ${email}: `,
    });
    if (!password) {
      throw new UsageError(
        'no password: pass --password-stdin or --password-file, or set OPSLEDGER_PASSWORD',
      );
    }
    const displayName = typeof values.name === 'string' ? values.name : '';
    const user = await asUsage(async () =>
      (await tasks()).createUser(ctx.config, { email, password, displayName }),
    );
    ctx.out(user.id);
    return 0;
  },
};

export const memberAddCommand: Command = {
  name: 'member:add',
  summary: 'Gives a user a role in a tenant',
  usage: `member:add --tenant ID --email E --role ${ROLES.join('|')}`,
  examples: [
    'member:add --tenant 0193e5a4-7c1f-7b52-9d0e-4f2a1c3b5d6e --email ana@example.test --role operator',
  ],
  options: {
    tenant: { type: 'string', value: 'ID', description: 'The tenant' },
    email: { type: 'string', value: 'EMAIL', description: 'The user' },
    role: { type: 'string', value: 'ROLE', description: ROLES.join(', ') },
  },
  async run(ctx, values) {
    const tenant = requireString(values, 'tenant');
    const email = requireString(values, 'email');
    const role = requireString(values, 'role');
    if (!isUuid(tenant)) throw new UsageError('--tenant must be a tenant id (a UUID)');
    if (!isRole(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
    const { findUserByEmail, addMember } = await tasks();
    if (!(await findUserByEmail(ctx.config, email)))
      throw new NotFoundCliError(`no user has the email ${email}`);
    const member = await addMember(ctx.config, tenant, email, role).catch((err) => {
      throw err instanceof NotFoundError ? new NotFoundCliError(`no tenant has the id ${tenant}`) : err;
    });
    ctx.out(`${member.email} is now ${member.role} of tenant ${tenant}`);
    return 0;
  },
};

export const tokenCreateCommand: Command = {
  name: 'token:create',
  summary: 'Creates an API token for a user and prints only the token (shown this once)',
  usage: 'token:create --email E [--name TOKEN_NAME]',
  description: 'Keep the token out of shell history: redirect it to a file, or into OPSLEDGER_TOKEN.',
  examples: ['token:create --email ana@example.test --name laptop > ~/.opsledger-token'],
  options: {
    email: { type: 'string', value: 'EMAIL', description: 'The user the token acts as' },
    name: {
      type: 'string',
      value: 'NAME',
      description: 'A name to recognise it by (default "command line")',
    },
  },
  async run(ctx, values) {
    const email = requireString(values, 'email');
    const name = typeof values.name === 'string' && values.name.trim() ? values.name : 'command line';
    const secret = await asUsage(async () => (await tasks()).createApiToken(ctx.config, email, name));
    if (secret === null) throw new NotFoundCliError(`no user has the email ${email}`);
    ctx.out(secret);
    return 0;
  },
};

export const accessCommands: Command[] = [
  tenantCreateCommand,
  userCreateCommand,
  memberAddCommand,
  tokenCreateCommand,
];
