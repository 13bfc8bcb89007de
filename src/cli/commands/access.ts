import {
  addMember,
  createApiToken,
  createTenant,
  createUser,
  findUserByEmail,
  isRole,
  ROLES,
} from '../../main/tasks.ts';
import { NotFoundError, ValidationError } from '../../shared/errors.ts';
import { isUuid } from '../../shared/ids.ts';
import { type Command, requireString, UsageError } from '../command.ts';

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
  options: { name: { type: 'string' } },
  async run(ctx, values) {
    const name = requireString(values, 'name');
    if (name.length > 200) throw new UsageError('--name has at most 200 characters');
    const tenant = await createTenant(ctx.config, name);
    ctx.out(tenant.id);
    return 0;
  },
};

export const userCreateCommand: Command = {
  name: 'user:create',
  summary: 'Creates a user who signs in with this email and password; prints the user id',
  usage: 'user:create --email E --password P [--name DISPLAY_NAME]',
  options: { email: { type: 'string' }, password: { type: 'string' }, name: { type: 'string' } },
  async run(ctx, values) {
    const email = requireString(values, 'email');
    const password = typeof values.password === 'string' ? values.password : '';
    if (!password) throw new UsageError('--password is required');
    const displayName = typeof values.name === 'string' ? values.name : '';
    const user = await asUsage(() => createUser(ctx.config, { email, password, displayName }));
    ctx.out(user.id);
    return 0;
  },
};

export const memberAddCommand: Command = {
  name: 'member:add',
  summary: 'Gives a user a role in a tenant',
  usage: `member:add --tenant ID --email E --role ${ROLES.join('|')}`,
  options: { tenant: { type: 'string' }, email: { type: 'string' }, role: { type: 'string' } },
  async run(ctx, values) {
    const tenant = requireString(values, 'tenant');
    const email = requireString(values, 'email');
    const role = requireString(values, 'role');
    if (!isUuid(tenant)) throw new UsageError('--tenant must be a tenant id (a UUID)');
    if (!isRole(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
    if (!(await findUserByEmail(ctx.config, email))) throw new Error(`no user has the email ${email}`);
    const member = await addMember(ctx.config, tenant, email, role).catch((err) => {
      throw err instanceof NotFoundError ? new Error(`no tenant has the id ${tenant}`) : err;
    });
    ctx.out(`${member.email} is now ${member.role} of tenant ${tenant}`);
    return 0;
  },
};

export const tokenCreateCommand: Command = {
  name: 'token:create',
  summary: 'Creates an API token for a user and prints only the token (shown this once)',
  usage: 'token:create --email E [--name TOKEN_NAME]',
  options: { email: { type: 'string' }, name: { type: 'string' } },
  async run(ctx, values) {
    const email = requireString(values, 'email');
    const name = typeof values.name === 'string' && values.name.trim() ? values.name : 'command line';
    const secret = await asUsage(() => createApiToken(ctx.config, email, name));
    if (secret === null) throw new Error(`no user has the email ${email}`);
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
