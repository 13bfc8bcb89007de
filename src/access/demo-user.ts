import { createHmac } from 'node:crypto';
import { ConflictError } from '../errors.ts';
import type { AccessService } from './service.ts';
import type { Role } from './tables.ts';

export const DEMO_EMAIL = 'demo@opsledger.local';

/**
 * The demo user's password is derived from the installation's root key: the same on every start
 * (so it can be printed again without being stored anywhere in clear) and unguessable elsewhere.
 */
export function demoPassword(rootKey: Buffer): string {
  return createHmac('sha256', rootKey).update('opsledger:demo-password').digest('base64url').slice(0, 20);
}

/** Ensures the demo user exists and owns the given tenants (idempotent). */
export async function ensureDemoUser(
  access: AccessService,
  tenantIds: readonly string[],
  rootKey: Buffer,
): Promise<{ email: string; password: string }> {
  const password = demoPassword(rootKey);
  if (!(await access.findUserByEmail(DEMO_EMAIL))) {
    await access.createUser({ email: DEMO_EMAIL, password, displayName: 'Demo operator' }).catch((err) => {
      // Another process created it first.
      if (!(err instanceof ConflictError)) throw err;
    });
  }
  for (const tenantId of tenantIds) {
    await access.addMember(tenantId, DEMO_EMAIL, 'owner').catch((err) => {
      if (!(err instanceof ConflictError)) throw err;
    });
  }
  return { email: DEMO_EMAIL, password };
}

export type DemoCredential = { tenant: string; role: Role; email: string; password: string };

const ROLES: readonly Role[] = ['owner', 'operator', 'viewer'];

/**
 * One user per role per demo tenant (e.g. `operator.contoso@opsledger.local`), so each role can
 * be tried. Passwords are derived from the root key like the demo user's (idempotent, never stored).
 */
export async function ensureDemoRoleUsers(
  access: AccessService,
  tenants: readonly { id: string; name: string }[],
  rootKey: Buffer,
): Promise<DemoCredential[]> {
  const out: DemoCredential[] = [];
  for (const tenant of tenants) {
    const slug =
      tenant.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '') || 'tenant';
    for (const role of ROLES) {
      const email = `${role}.${slug}@opsledger.local`;
      const password = createHmac('sha256', rootKey)
        .update(`opsledger:demo-password:${email}`)
        .digest('base64url')
        .slice(0, 20);
      if (!(await access.findUserByEmail(email))) {
        await access.createUser({ email, password, displayName: `${tenant.name} ${role}` }).catch((err) => {
          if (!(err instanceof ConflictError)) throw err;
        });
      }
      await access.addMember(tenant.id, email, role).catch((err) => {
        if (!(err instanceof ConflictError)) throw err;
      });
      out.push({ tenant: tenant.name, role, email, password });
    }
  }
  return out;
}
