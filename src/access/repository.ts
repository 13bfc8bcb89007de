import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { DB } from '../db/schema.ts';
import type { Role, TokenScope } from './tables.ts';

/**
 * All SQL of access control. Users, sessions and tokens are global (a person is not a tenant's
 * row); memberships are tenant-owned and every query on them names the tenant.
 */

export type UserRow = { id: string; email: string; display_name: string };

export type MemberRow = {
  user_id: string;
  email: string;
  display_name: string;
  role: Role;
  created_at: Date;
};

/** A credential's row joined with its user (and, when asked for one tenant, the user's role there). */
export type TokenOwner = {
  user_id: string;
  name: string;
  secret_hash: string;
  email: string;
  display_name: string;
  role?: Role | null;
};

/**
 * The caller's role in one tenant, beside the credential lookup: the route's tenant gate then needs
 * no statement of its own. The row is named by tenant and user, and it is the caller's own, so
 * reading it here (outside a tenant transaction, like tenantsOf) shows nothing of anyone else.
 */
function withRoleIn<QB extends SelectQueryBuilder<any, any, any>>(q: QB, tenantId: string | null): QB {
  if (tenantId === null) return q;
  return q.select((eb) =>
    eb
      .selectFrom('memberships as m')
      .select('m.role')
      .where('m.tenant_id', '=', tenantId)
      .whereRef('m.user_id', '=', 'u.id')
      .as('role'),
  ) as QB;
}

export type TokenRow = {
  id: string;
  name: string;
  scope: TokenScope;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date;
};

const tokenColumns = ['id', 'name', 'scope', 'created_at', 'last_used_at', 'expires_at'] as const;

export type ActiveToken = TokenOwner & {
  last_used_at: Date | null;
  scope: TokenScope;
  expires_at: Date;
  expired: boolean;
};

export const userRepository = {
  async create(
    trx: Trx,
    user: { id: string; email: string; displayName: string; passwordHash: string },
  ): Promise<UserRow | null> {
    const row = await trx
      .insertInto('users')
      .values({ id: user.id, email: user.email, display_name: user.displayName })
      .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
      .returning(['id', 'email', 'display_name'])
      .executeTakeFirst();
    if (!row) return null;
    await trx
      .insertInto('user_passwords')
      .values({ user_id: row.id, password_hash: user.passwordHash })
      .execute();
    return row;
  },

  async findByEmail(trx: Trx, email: string): Promise<(UserRow & { password_hash: string | null }) | null> {
    const row = await trx
      .selectFrom('users as u')
      .leftJoin('user_passwords as p', 'p.user_id', 'u.id')
      .select(['u.id', 'u.email', 'u.display_name', 'p.password_hash'])
      .where(sql<string>`lower(u.email)`, '=', email.toLowerCase())
      .executeTakeFirst();
    return row ?? null;
  },

  async passwordHash(trx: Trx, userId: string): Promise<string | null> {
    const row = await trx
      .selectFrom('user_passwords')
      .select('password_hash')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.password_hash ?? null;
  },

  async setPassword(trx: Trx, userId: string, passwordHash: string): Promise<void> {
    await trx
      .insertInto('user_passwords')
      .values({ user_id: userId, password_hash: passwordHash })
      .onConflict((oc) =>
        oc.column('user_id').doUpdateSet({ password_hash: passwordHash, updated_at: sql`now()` }),
      )
      .execute();
  },

  /** Replaces a hash only if it is still the one read (a concurrent change wins). */
  async replacePasswordHash(trx: Trx, userId: string, from: string, to: string): Promise<void> {
    await trx
      .updateTable('user_passwords')
      .set({ password_hash: to, updated_at: new Date() })
      .where('user_id', '=', userId)
      .where('password_hash', '=', from)
      .execute();
  },

  async findById(trx: Trx, id: string): Promise<UserRow | null> {
    const row = await trx
      .selectFrom('users')
      .select(['id', 'email', 'display_name'])
      .where('id', '=', id)
      .executeTakeFirst();
    return row ?? null;
  },
};

export const sessionRepository = {
  async create(trx: Trx, s: { id: string; userId: string; secretHash: string; expiresAt: Date }) {
    await trx
      .insertInto('sessions')
      .values({ id: s.id, user_id: s.userId, secret_hash: s.secretHash, expires_at: s.expiresAt })
      .execute();
  },

  async find(trx: Kysely<DB>, id: string, roleIn: string | null = null): Promise<TokenOwner | null> {
    const q = trx
      .selectFrom('sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select(['s.user_id', 's.secret_hash', 'u.email', 'u.display_name'])
      .where('s.id', '=', id)
      .where('s.expires_at', '>', sql<Date>`now()`);
    const row: Omit<TokenOwner, 'name'> | undefined = await withRoleIn(q, roleIn).executeTakeFirst();
    return row ? { ...row, name: '' } : null;
  },

  async delete(trx: Trx, id: string): Promise<void> {
    await trx.deleteFrom('sessions').where('id', '=', id).execute();
  },

  /** Ends every session of the user (but one, when named); returns the ids ended. */
  async deleteAllOf(trx: Trx, userId: string, exceptId: string | null = null): Promise<string[]> {
    let q = trx.deleteFrom('sessions').where('user_id', '=', userId);
    if (exceptId !== null) q = q.where('id', '<>', exceptId);
    return (await q.returning('id').execute()).map((r) => r.id);
  },

  async deleteExpired(trx: Trx): Promise<void> {
    await trx.deleteFrom('sessions').where('expires_at', '<=', sql<Date>`now()`).execute();
  },
};

export const tokenRepository = {
  async create(
    trx: Trx,
    t: { id: string; userId: string; name: string; secretHash: string; scope: TokenScope; expiresAt: Date },
  ): Promise<TokenRow> {
    return trx
      .insertInto('api_tokens')
      .values({
        id: t.id,
        user_id: t.userId,
        name: t.name,
        secret_hash: t.secretHash,
        scope: t.scope,
        expires_at: t.expiresAt,
      })
      .returning(tokenColumns)
      .executeTakeFirstOrThrow();
  },

  /** The active token with its user, in one round trip (this runs on every API request). */
  async findActive(trx: Kysely<DB>, id: string, roleIn: string | null = null): Promise<ActiveToken | null> {
    const q = trx
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select([
        't.user_id',
        't.name',
        't.secret_hash',
        't.last_used_at',
        't.scope',
        't.expires_at',
        // The database's clock decides expiry, as it decides a session's: one clock for a fleet.
        sql<boolean>`t.expires_at <= now()`.as('expired'),
        'u.email',
        'u.display_name',
      ])
      .where('t.id', '=', id)
      .where('t.revoked_at', 'is', null);
    const row: ActiveToken | undefined = await withRoleIn(q, roleIn).executeTakeFirst();
    return row ?? null;
  },

  /** Records that these tokens were used now (one statement for a batch). */
  async touch(db: Kysely<DB>, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await db.updateTable('api_tokens').set({ last_used_at: sql`now()` }).where('id', 'in', ids).execute();
  },

  /**
   * One page of the user's live (unrevoked, unexpired) tokens, newest first: ids are time-ordered,
   * so the page after `before` is the next `limit` ids below it.
   */
  async listLive(
    trx: Trx,
    userId: string,
    page: { limit: number; before: string | null },
  ): Promise<TokenRow[]> {
    let q = trx
      .selectFrom('api_tokens')
      .select(tokenColumns)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`);
    if (page.before !== null) q = q.where('id', '<', page.before);
    return q.orderBy('id', 'desc').limit(page.limit).execute();
  },

  /** Revokes every unrevoked token of the user; returns their ids. */
  async revokeAllOf(trx: Trx, userId: string): Promise<string[]> {
    const rows = await trx
      .updateTable('api_tokens')
      .set({ revoked_at: sql`now()` })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  },

  /** Revokes one of the user's own tokens; false when the user has no such active token. */
  async revoke(trx: Trx, userId: string, id: string): Promise<boolean> {
    const r = await trx
      .updateTable('api_tokens')
      .set({ revoked_at: sql`now()` })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  },
};

const memberColumns = ['m.user_id', 'u.email', 'u.display_name', 'm.role', 'm.created_at'] as const;

export const membershipRepository = {
  async role(trx: Trx, tenantId: string, userId: string): Promise<Role | null> {
    const row = await trx
      .selectFrom('memberships')
      .select('role')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role ?? null;
  },

  async list(trx: Trx, tenantId: string): Promise<MemberRow[]> {
    return trx
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(memberColumns)
      .where('m.tenant_id', '=', tenantId)
      .orderBy('m.created_at')
      .orderBy('m.user_id')
      .limit(10_000)
      .execute();
  },

  async find(trx: Trx, tenantId: string, userId: string): Promise<MemberRow | null> {
    const row = await trx
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(memberColumns)
      .where('m.tenant_id', '=', tenantId)
      .where('m.user_id', '=', userId)
      .executeTakeFirst();
    return row ?? null;
  },

  async insert(trx: Trx, tenantId: string, userId: string, role: Role): Promise<boolean> {
    const r = await trx
      .insertInto('memberships')
      .values({ tenant_id: tenantId, user_id: userId, role })
      .onConflict((oc) => oc.columns(['tenant_id', 'user_id']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  },

  /**
   * Locks the tenant's owner rows: every change that could leave a tenant without an owner takes
   * this lock first, so two owners demoting each other at once cannot both succeed.
   */
  async lockOwners(trx: Trx, tenantId: string): Promise<string[]> {
    const rows = await trx
      .selectFrom('memberships')
      .select('user_id')
      .where('tenant_id', '=', tenantId)
      .where('role', '=', 'owner')
      .orderBy('user_id')
      .forUpdate()
      .execute();
    return rows.map((r) => r.user_id);
  },

  async setRole(trx: Trx, tenantId: string, userId: string, role: Role): Promise<boolean> {
    const r = await trx
      .updateTable('memberships')
      .set({ role, updated_at: sql`now()` })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  },

  async delete(trx: Trx, tenantId: string, userId: string): Promise<boolean> {
    const r = await trx
      .deleteFrom('memberships')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  },

  /** The tenants a user belongs to: crosses tenants by design, so it runs in system scope. */
  async tenantsOf(trx: Trx, userId: string): Promise<{ id: string; name: string; role: Role }[]> {
    return trx
      .selectFrom('memberships as m')
      .innerJoin('tenants as t', 't.id', 'm.tenant_id')
      .select(['t.id', 't.name', 'm.role'])
      .where('m.user_id', '=', userId)
      .orderBy('t.name')
      .orderBy('t.id')
      .limit(10_000)
      .execute();
  },
};
