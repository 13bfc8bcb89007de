import { createHmac } from 'node:crypto';
import { ConflictError } from '../errors.ts';
import type { AccessService } from './service.ts';

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
