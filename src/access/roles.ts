import type { Role } from './tables.ts';

export const ROLES: readonly Role[] = ['owner', 'operator', 'viewer'];

/** What a caller may do inside one tenant. */
export type TenantAction = 'read' | 'operate' | 'manage_members' | 'manage_alerts';

const ALLOWED: Record<Role, readonly TenantAction[]> = {
  owner: ['read', 'operate', 'manage_members', 'manage_alerts'],
  operator: ['read', 'operate'],
  viewer: ['read'],
};

export function roleAllows(role: Role, action: TenantAction): boolean {
  return ALLOWED[role].includes(action);
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}
