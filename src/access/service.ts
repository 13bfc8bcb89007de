import { uuidv7 } from 'uuidv7';
import type { Database, Trx } from '../db/database.ts';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
  withDbErrors,
} from '../shared/errors.ts';
import { assertUuid } from '../shared/ids.ts';
import { endAllCredentials, type Revoked } from './account.ts';
import { type InvitationRow, invitationRepository as invitations } from './invitations.ts';
import { EMAIL, isEmail, passwordWeakness } from './passwords.ts';
import { type MemberRow, membershipRepository as members, userRepository as users } from './repository.ts';
import { announceRevocation, type CredentialsRevokedListener, ignoreRevocation } from './revocation.ts';
import { roleAllows, type TenantAction, tokenAllows } from './roles.ts';
import { DUMMY_PASSWORD_HASH, hashPassword, needsRehash, verifyPassword } from './secrets.ts';
import type { Role, TokenScope } from './tables.ts';
import { tenantRepository } from './tenants.ts';

/** Who is calling: a signed-in user, through a session cookie or an API token. */
export type Principal = {
  userId: string;
  email: string;
  displayName: string;
  via: 'session' | 'token';
  sessionId?: string;
  tokenId?: string;
  tokenName?: string;
  /** What the token may do (tokens only); the caller's role bounds it further. */
  tokenScope?: TokenScope;
  /**
   * The caller's role in one tenant, read with the credential (null: not a member). Lets the
   * tenant gate of the request that authenticated decide without a statement of its own.
   */
  membership?: { tenantId: string; role: Role | null };
};

export type User = { id: string; email: string; displayName: string };
export type Member = { userId: string; email: string; displayName: string; role: Role; createdAt: string };

export { isEmail, passwordWeakness } from './passwords.ts';

/** An invitation as the invitee sees it. */
export type Invitation = {
  id: string;
  tenantId: string;
  tenantName: string;
  email: string;
  role: Role;
  createdAt: string;
  expiresAt: string;
};

/** A pending invitation as the tenant's owners see it: with who sent it. */
export type PendingInvitation = Omit<Invitation, 'tenantName'> & {
  invitedBy: { userId: string; email: string } | null;
};

export const DEFAULT_INVITATION_DAYS = 7;

export function presentMember(row: MemberRow): Member {
  return {
    userId: row.user_id,
    email: row.email,
    displayName: row.display_name,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

function presentInvitation(row: InvitationRow): Omit<Invitation, 'tenantName'> {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    email: row.email,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
    expiresAt: new Date(row.expires_at).toISOString(),
  };
}

/**
 * Users, memberships and the tenant policy. Every tenant-owned read or write runs in a transaction
 * scoped to that tenant, so row-level security backs up the WHERE clauses.
 */
export class AccessService {
  #db: Database;
  #onRevoked: CredentialsRevokedListener;
  #invitationDays: number;

  constructor(deps: {
    database: Database;
    onCredentialsRevoked?: CredentialsRevokedListener;
    invitationDays?: number;
  }) {
    this.#db = deps.database;
    this.#onRevoked = deps.onCredentialsRevoked ?? ignoreRevocation;
    this.#invitationDays = deps.invitationDays ?? DEFAULT_INVITATION_DAYS;
  }

  async createTenant(name: string): Promise<{ id: string; name: string }> {
    const clean = name.trim();
    if (clean.length < 1 || clean.length > 200)
      throw new ValidationError('a tenant name has 1–200 characters');
    return this.#system((trx) => tenantRepository.create(trx, { name: clean }));
  }

  async createUser(input: { email: string; password: string; displayName?: string }): Promise<User> {
    const email = input.email.trim();
    if (!EMAIL.test(email) || email.length > 320) throw new ValidationError('the email address is not valid');
    const weak = passwordWeakness(input.password, email);
    if (weak) throw new ValidationError(weak);
    const passwordHash = await hashPassword(input.password);
    const row = await this.#system((trx) =>
      users.create(trx, {
        id: uuidv7(),
        email,
        displayName: (input.displayName ?? '').trim().slice(0, 200),
        passwordHash,
      }),
    );
    if (!row) throw new ConflictError('a user with this email already exists');
    return { id: row.id, email: row.email, displayName: row.display_name };
  }

  /** The same answer, after the same work, whether the email is unknown or the password wrong. */
  async verifyCredentials(email: string, password: string): Promise<User> {
    const row = await this.#system((trx) => users.findByEmail(trx, email.trim()));
    const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_PASSWORD_HASH);
    if (!row?.password_hash || !ok) throw new UnauthorizedError('invalid email or password');
    if (needsRehash(row.password_hash)) {
      // Made at an older cost: the password is at hand, so it is hashed again at today's.
      const stored = row.password_hash;
      const rehashed = await hashPassword(password);
      await this.#system((trx) => users.replacePasswordHash(trx, row.id, stored, rehashed));
    }
    return { id: row.id, email: row.email, displayName: row.display_name };
  }

  /**
   * The fresh password check in front of anything that makes or ends credentials: only a person
   * signed in by session, who types the password again now, passes. A token never does, whatever
   * its scope; a stolen cookie alone does not either.
   */
  async confirmPassword(principal: Principal, password: string): Promise<void> {
    if (principal.via !== 'session') {
      throw new ForbiddenError('an API token cannot do this; sign in and confirm your password');
    }
    const stored = await this.#system((trx) => users.passwordHash(trx, principal.userId));
    const ok = await verifyPassword(password, stored ?? DUMMY_PASSWORD_HASH);
    if (!stored || !ok) throw new ForbiddenError('the password is not correct');
  }

  /**
   * Sets a new password (after the old one is confirmed) and ends every other session and every
   * API token of the user, in one transaction: whoever learnt the old password keeps nothing it
   * let them make. The session that asked stays signed in.
   */
  async changePassword(principal: Principal, current: string, next: string): Promise<Revoked> {
    await this.confirmPassword(principal, current);
    const weak = passwordWeakness(next, principal.email);
    if (weak) throw new ValidationError(weak, [{ path: '/newPassword', message: weak }]);
    if (next === current) {
      throw new ValidationError('the new password is the current one', [
        { path: '/newPassword', message: 'unchanged' },
      ]);
    }
    const hash = await hashPassword(next);
    const revoked = await this.#system(async (trx) => {
      await users.setPassword(trx, principal.userId, hash);
      return endAllCredentials(trx, principal.userId, principal.sessionId ?? null);
    });
    announceRevocation(this.#onRevoked, { userId: principal.userId, ...revoked, reason: 'password_changed' });
    return revoked;
  }

  /** Ends every session of the user, this one included, and revokes every API token of theirs. */
  async signOutEverywhere(principal: Principal, password: string): Promise<Revoked> {
    await this.confirmPassword(principal, password);
    const revoked = await this.#system((trx) => endAllCredentials(trx, principal.userId, null));
    announceRevocation(this.#onRevoked, {
      userId: principal.userId,
      ...revoked,
      reason: 'signed_out_everywhere',
    });
    return revoked;
  }

  async findUserByEmail(email: string): Promise<User | null> {
    const row = await this.#system((trx) => users.findByEmail(trx, email.trim()));
    return row ? { id: row.id, email: row.email, displayName: row.display_name } : null;
  }

  async tenantsOf(userId: string): Promise<{ id: string; name: string; role: Role }[]> {
    return this.#system((trx) => members.tenantsOf(trx, userId));
  }

  /**
   * The gate in front of every tenant route. A tenant the caller does not belong to is answered
   * exactly like one that does not exist; only a member learns that a role (or a token's scope)
   * is too weak.
   */
  async authorize(principal: Principal, tenantId: string, action: TenantAction): Promise<Role> {
    const id = assertUuid(tenantId, 'tenant');
    const role =
      principal.membership?.tenantId === id
        ? principal.membership.role
        : await this.#tenant(id, (trx) => members.role(trx, id, principal.userId));
    if (!role) throw new NotFoundError('not found');
    if (!roleAllows(role, action)) throw new ForbiddenError(`the ${role} role may not do this`);
    if (principal.via === 'token') {
      const scope = principal.tokenScope ?? 'read';
      if (!tokenAllows(scope, action)) {
        throw new ForbiddenError(
          action === 'manage_members'
            ? 'an API token cannot manage members, invitations or connections; sign in to do this'
            : `a ${scope}-scoped API token may not do this`,
        );
      }
    }
    return role;
  }

  async listMembers(tenantId: string): Promise<Member[]> {
    return (await this.#tenant(tenantId, (trx) => members.list(trx, tenantId))).map(presentMember);
  }

  async addMember(tenantId: string, email: string, role: Role): Promise<Member> {
    assertUuid(tenantId, 'tenant');
    const user = await this.findUserByEmail(email);
    if (!user) throw new NotFoundError('not found');
    return this.#tenant(tenantId, async (trx) => {
      if (!(await tenantRepository.exists(trx, tenantId))) throw new NotFoundError('not found');
      if (!(await members.insert(trx, tenantId, user.id, role))) {
        throw new ConflictError('the user is already a member of this tenant');
      }
      return presentMember((await members.find(trx, tenantId, user.id))!);
    });
  }

  /**
   * Invites an email to the tenant on behalf of one of its owners. The answer is the same whether
   * the email belongs to a user, to a member already, or to no one: an owner learns nothing about
   * other accounts, and nobody joins a tenant without accepting. The invitation expires, and it
   * ends with its sender's ownership.
   */
  async invite(
    tenantId: string,
    email: string,
    role: Role,
    invitedBy: string,
  ): Promise<Omit<Invitation, 'tenantName'>> {
    const t = assertUuid(tenantId, 'tenant');
    if (!isEmail(email)) {
      throw new ValidationError('the email address is not valid', [{ path: '/email', message: 'invalid' }]);
    }
    const clean = email.trim().toLowerCase();
    return this.#tenant(t, async (trx) => {
      if (!(await tenantRepository.exists(trx, t))) throw new NotFoundError('not found');
      const row = await invitations.upsert(trx, {
        id: uuidv7(),
        tenantId: t,
        email: clean,
        role,
        invitedBy,
        ttlDays: this.#invitationDays,
      });
      return presentInvitation(row);
    });
  }

  /** The tenant's pending (unexpired) invitations, for its owners. */
  async listInvitations(tenantId: string): Promise<PendingInvitation[]> {
    const t = assertUuid(tenantId, 'tenant');
    const rows = await this.#tenant(t, (trx) => invitations.pending(trx, t));
    return rows.map((r) => ({
      ...presentInvitation(r),
      invitedBy: r.invited_by ? { userId: r.invited_by, email: r.sender_email ?? '' } : null,
    }));
  }

  /** Revokes a pending invitation; 404 for an id the tenant does not have (another tenant's too). */
  async revokeInvitation(tenantId: string, invitationId: string): Promise<void> {
    const t = assertUuid(tenantId, 'tenant');
    const id = assertUuid(invitationId, 'invitation');
    if (!(await this.#tenant(t, (trx) => invitations.revoke(trx, t, id))))
      throw new NotFoundError('not found');
  }

  /** Invitations waiting for this user's email, across tenants. */
  async invitationsFor(email: string): Promise<Invitation[]> {
    const rows = await this.#system((trx) => invitations.forEmail(trx, email.trim().toLowerCase()));
    return rows.map((r) => ({ ...presentInvitation(r), tenantName: r.tenant_name }));
  }

  /**
   * Joins the tenant with the invited role: 404 when no invitation waits for this user there (or
   * its sender is no longer an owner: void), 409 when it has expired.
   */
  async acceptInvitation(principal: Principal, tenantId: string): Promise<Member> {
    const t = assertUuid(tenantId, 'tenant');
    const email = principal.email.trim().toLowerCase();
    const taken = await this.#tenant(t, async (trx) => {
      const invitation = await invitations.take(trx, t, email);
      if (!invitation || invitation.void) return null;
      if (invitation.expired) return 'expired' as const;
      await members.insert(trx, t, principal.userId, invitation.role);
      return presentMember((await members.find(trx, t, principal.userId))!);
    });
    if (taken === null) throw new NotFoundError('not found');
    if (taken === 'expired') {
      // The expired invitation is gone now (its removal committed): it is refused the same way
      // again, and a new one can be sent.
      throw new ConflictError('this invitation has expired; ask an owner of the tenant to invite you again');
    }
    return taken;
  }

  async declineInvitation(principal: Principal, tenantId: string): Promise<void> {
    const t = assertUuid(tenantId, 'tenant');
    const found = await this.#tenant(t, (trx) =>
      invitations.take(trx, t, principal.email.trim().toLowerCase()),
    );
    if (!found) throw new NotFoundError('not found');
  }

  /** Changes a role; an owner who stops being one takes the invitations they sent with them. */
  async changeRole(tenantId: string, userId: string, role: Role): Promise<Member> {
    const uid = assertUuid(userId, 'member');
    return this.#tenant(tenantId, async (trx) => {
      const owners = await members.lockOwners(trx, tenantId);
      const current = await members.find(trx, tenantId, uid);
      if (!current) throw new NotFoundError('not found');
      if (current.role === 'owner' && role !== 'owner' && owners.length <= 1) {
        throw new ConflictError('the last owner of a tenant cannot be demoted');
      }
      await members.setRole(trx, tenantId, uid, role);
      if (current.role === 'owner' && role !== 'owner') await invitations.revokeSentBy(trx, tenantId, uid);
      return presentMember({ ...current, role });
    });
  }

  /** Removes a member; the invitations they sent end with the membership (a foreign key). */
  async removeMember(tenantId: string, userId: string): Promise<void> {
    const uid = assertUuid(userId, 'member');
    await this.#tenant(tenantId, async (trx) => {
      const owners = await members.lockOwners(trx, tenantId);
      const current = await members.find(trx, tenantId, uid);
      if (!current) throw new NotFoundError('not found');
      if (current.role === 'owner' && owners.length <= 1) {
        throw new ConflictError('the last owner of a tenant cannot be removed');
      }
      await members.delete(trx, tenantId, uid);
    });
    announceRevocation(this.#onRevoked, {
      userId: uid,
      tenantId: tenantId.toLowerCase(),
      sessionIds: [],
      tokenIds: [],
      reason: 'member_removed',
    });
  }

  #tenant<T>(tenantId: string, fn: (trx: Trx) => Promise<T>): Promise<T> {
    return withDbErrors(() => this.#db.tenantTx(tenantId, fn));
  }

  #system<T>(fn: (trx: Trx) => Promise<T>): Promise<T> {
    return withDbErrors(() => this.#db.systemTx(fn));
  }
}
