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
import { invitationRepository as invitations } from './invitations.ts';
import { type MemberRow, membershipRepository as members, userRepository as users } from './repository.ts';
import { roleAllows, type TenantAction } from './roles.ts';
import { DUMMY_PASSWORD_HASH, hashPassword, needsRehash, verifyPassword } from './secrets.ts';
import type { Role } from './tables.ts';
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
  /**
   * The caller's role in one tenant, read with the credential (null: not a member). Lets the
   * tenant gate of the request that authenticated decide without a statement of its own.
   */
  membership?: { tenantId: string; role: Role | null };
};

export type User = { id: string; email: string; displayName: string };
export type Member = { userId: string; email: string; displayName: string; role: Role; createdAt: string };

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

/** An email address as sign-up and invitations accept it (trimmed first). */
export function isEmail(value: string): boolean {
  const email = value.trim();
  return EMAIL.test(email) && email.length <= 320;
}

// The passwords every guesser tries first; the length and variety rules catch most of the rest.
const COMMON_PASSWORDS = new Set([
  'password1234',
  'password12345',
  'password123456',
  'passwordpassword',
  'qwertyuiopasdf',
  '123456789012',
  '1234567890123',
  'iloveyou1234',
  'administrator',
  'letmeinletmein',
  'opsledger1234',
  'changeme1234',
  'welcome12345',
]);

/** Why a password is too weak to accept, or null. */
export function passwordWeakness(password: string, email = ''): string | null {
  if (password.length < 12 || password.length > 1024) return 'a password has 12–1024 characters';
  if (password.trim().length < 12) return 'a password is not mostly spaces';
  if (new Set(password).size < 6) return 'a password has at least 6 different characters';
  const lower = password.trim().toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) return 'this password is among the most common ones';
  const local = email.trim().toLowerCase().split('@')[0] ?? '';
  if (local.length >= 4 && lower.includes(local) && lower.length < 20) {
    return 'a password does not repeat the email address';
  }
  return null;
}

export type Invitation = {
  tenantId: string;
  tenantName: string;
  email: string;
  role: Role;
  createdAt: string;
};

export function presentMember(row: MemberRow): Member {
  return {
    userId: row.user_id,
    email: row.email,
    displayName: row.display_name,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/**
 * Users, memberships and the tenant policy. Every tenant-owned read or write runs in a transaction
 * scoped to that tenant, so row-level security backs up the WHERE clauses.
 */
export class AccessService {
  #db: Database;

  constructor(deps: { database: Database }) {
    this.#db = deps.database;
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

  async findUserByEmail(email: string): Promise<User | null> {
    const row = await this.#system((trx) => users.findByEmail(trx, email.trim()));
    return row ? { id: row.id, email: row.email, displayName: row.display_name } : null;
  }

  async tenantsOf(userId: string): Promise<{ id: string; name: string; role: Role }[]> {
    return this.#system((trx) => members.tenantsOf(trx, userId));
  }

  /**
   * The gate in front of every tenant route. A tenant the caller does not belong to is answered
   * exactly like one that does not exist; only a member learns that a role is too weak.
   */
  async authorize(principal: Principal, tenantId: string, action: TenantAction): Promise<Role> {
    const id = assertUuid(tenantId, 'tenant');
    const role =
      principal.membership?.tenantId === id
        ? principal.membership.role
        : await this.#tenant(id, (trx) => members.role(trx, id, principal.userId));
    if (!role) throw new NotFoundError('not found');
    if (!roleAllows(role, action)) throw new ForbiddenError(`the ${role} role may not do this`);
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
   * Invites an email to the tenant. The answer is the same whether the email belongs to a user, to
   * a member already, or to no one: an owner learns nothing about other accounts, and nobody
   * joins a tenant without accepting.
   */
  async invite(tenantId: string, email: string, role: Role): Promise<Omit<Invitation, 'tenantName'>> {
    const t = assertUuid(tenantId, 'tenant');
    if (!isEmail(email)) {
      throw new ValidationError('the email address is not valid', [{ path: '/email', message: 'invalid' }]);
    }
    const clean = email.trim().toLowerCase();
    return this.#tenant(t, async (trx) => {
      if (!(await tenantRepository.exists(trx, t))) throw new NotFoundError('not found');
      const row = await invitations.upsert(trx, t, clean, role);
      return { tenantId: t, email: clean, role: row.role, createdAt: new Date(row.created_at).toISOString() };
    });
  }

  /** Invitations waiting for this user's email, across tenants. */
  async invitationsFor(email: string): Promise<Invitation[]> {
    const rows = await this.#system((trx) => invitations.forEmail(trx, email.trim().toLowerCase()));
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      tenantName: r.tenant_name,
      email: r.email,
      role: r.role,
      createdAt: new Date(r.created_at).toISOString(),
    }));
  }

  /** Joins the tenant with the invited role; 404 when no invitation waits for this user there. */
  async acceptInvitation(principal: Principal, tenantId: string): Promise<Member> {
    const t = assertUuid(tenantId, 'tenant');
    return this.#tenant(t, async (trx) => {
      const invitation = await invitations.take(trx, t, principal.email.trim().toLowerCase());
      if (!invitation) throw new NotFoundError('not found');
      await members.insert(trx, t, principal.userId, invitation.role);
      return presentMember((await members.find(trx, t, principal.userId))!);
    });
  }

  async declineInvitation(principal: Principal, tenantId: string): Promise<void> {
    const t = assertUuid(tenantId, 'tenant');
    const found = await this.#tenant(t, (trx) =>
      invitations.take(trx, t, principal.email.trim().toLowerCase()),
    );
    if (!found) throw new NotFoundError('not found');
  }

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
      return presentMember({ ...current, role });
    });
  }

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
  }

  #tenant<T>(tenantId: string, fn: (trx: Trx) => Promise<T>): Promise<T> {
    return withDbErrors(() => this.#db.tenantTx(tenantId, fn));
  }

  #system<T>(fn: (trx: Trx) => Promise<T>): Promise<T> {
    return withDbErrors(() => this.#db.systemTx(fn));
  }
}
