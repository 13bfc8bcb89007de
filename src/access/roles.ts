import type { Role, TokenScope } from './tables.ts';

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

/**
 * What an API token may do on top of its user's role: at most read, or read and operate (which
 * includes an owner's alert targets, so automation can keep them, as GitHub's hook-scoped tokens
 * do). Managing members, invitations and connections is never open to a token: it needs a
 * signed-in person, so a leaked token can neither let anyone in nor keep anyone in.
 */
const TOKEN_ALLOWED: Record<TokenScope, readonly TenantAction[]> = {
  read: ['read'],
  operate: ['read', 'operate', 'manage_alerts'],
};

export function tokenAllows(scope: TokenScope, action: TenantAction): boolean {
  return TOKEN_ALLOWED[scope].includes(action);
}
