import { createHmac } from 'node:crypto';
import { ConflictError } from '../shared/errors.ts';
import { ROLES } from './roles.ts';
import type { AccessService } from './service.ts';
import type { Role } from './tables.ts';

export const DEMO_EMAIL = 'demo@opsledger.local';

export type DemoCredential = { tenant: string; role: Role; email: string; password: string };
export type DemoUsers = { owner: { email: string; password: string }; roles: DemoCredential[] };

/**
 * Demo passwords are derived from the installation's root key: the same on every start (so they
 * can be printed again without being stored anywhere in clear) and unguessable elsewhere.
 */
function derivePassword(rootKey: Buffer, label: string): string {
  return createHmac('sha256', rootKey).update(label).digest('base64url').slice(0, 20);
}

export function demoPassword(rootKey: Buffer): string {
  return derivePassword(rootKey, 'opsledger:demo-password');
}

const ignoreConflict = (err: unknown) => {
  // Another process (or an earlier run) got there first.
  if (!(err instanceof ConflictError)) throw err;
};

/** Creates the user unless it exists and gives it the role in the tenant unless it has one. */
async function ensureMember(
  access: AccessService,
  user: { email: string; password: string; displayName: string },
  tenantId: string,
  role: Role,
): Promise<void> {
  if (!(await access.findUserByEmail(user.email))) await access.createUser(user).catch(ignoreConflict);
  await access.addMember(tenantId, user.email, role).catch(ignoreConflict);
}

/**
 * The demo sign-ins (idempotent): `demo@opsledger.local` owns every demo tenant, and one user per
 * role per tenant (e.g. `operator.contoso@opsledger.local`) lets each role be tried.
 */
export async function ensureDemoUsers(
  access: AccessService,
  tenants: readonly { id: string; name: string }[],
  rootKey: Buffer,
): Promise<DemoUsers> {
  const owner = { email: DEMO_EMAIL, password: demoPassword(rootKey), displayName: 'Demo operator' };
  const roles: DemoCredential[] = [];
  for (const tenant of tenants) {
    await ensureMember(access, owner, tenant.id, 'owner');
    const slug =
      tenant.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '') || 'tenant';
    for (const role of ROLES) {
      const email = `${role}.${slug}@opsledger.local`;
      const password = derivePassword(rootKey, `opsledger:demo-password:${email}`);
      await ensureMember(access, { email, password, displayName: `${tenant.name} ${role}` }, tenant.id, role);
      roles.push({ tenant: tenant.name, role, email, password });
    }
  }
  return { owner: { email: owner.email, password: owner.password }, roles };
}
