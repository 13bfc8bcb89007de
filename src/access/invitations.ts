import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { Role } from './tables.ts';

export type InvitationRow = {
  id: string;
  tenant_id: string;
  email: string;
  role: Role;
  invited_by: string | null;
  created_at: Date;
  expires_at: Date;
};

/** An invitation as its tenant's owners see it: with who sent it. */
export type PendingInvitationRow = InvitationRow & { sender_email: string | null };

const columns = sql.raw('i.id, i.tenant_id, i.email, i.role, i.invited_by, i.created_at, i.expires_at');

/**
 * SQL of invitations; emails are stored and compared lower-cased. An invitation is pending until
 * it is accepted, declined, revoked or it expires; the membership of the owner who sent it carries
 * it (a foreign key: when that membership ends, so does the invitation).
 */
export const invitationRepository = {
  /** A second invitation to the same address replaces the role and sender and restarts the clock. */
  async upsert(
    trx: Trx,
    i: { id: string; tenantId: string; email: string; role: Role; invitedBy: string; ttlDays: number },
  ): Promise<InvitationRow> {
    const { rows } = await sql<InvitationRow>`
      insert into invitations as i (id, tenant_id, email, role, invited_by, expires_at)
      values (${i.id}, ${i.tenantId}, ${i.email}, ${i.role}, ${i.invitedBy},
              now() + make_interval(days => ${i.ttlDays}))
      on conflict (tenant_id, email) do update
        set role = excluded.role, invited_by = excluded.invited_by,
            created_at = now(), expires_at = excluded.expires_at
      returning ${columns}`.execute(trx);
    return rows[0]!;
  },

  /**
   * Removes and returns the invitation (accepting or declining uses it up), with whether it had
   * expired. One whose sender is no longer an owner of the tenant is void: it is removed and
   * returned as expired, never honoured.
   */
  async take(
    trx: Trx,
    tenantId: string,
    email: string,
  ): Promise<(InvitationRow & { expired: boolean; void: boolean }) | null> {
    const { rows } = await sql<InvitationRow & { expired: boolean; void: boolean }>`
      delete from invitations i where i.tenant_id = ${tenantId} and i.email = ${email}
      returning ${columns}, i.expires_at <= now() as expired,
        (i.invited_by is not null and not exists (
          select 1 from memberships m
          where m.tenant_id = i.tenant_id and m.user_id = i.invited_by and m.role = 'owner')) as void`.execute(
      trx,
    );
    return rows[0] ?? null;
  },

  /** The tenant's pending invitations, newest first (bounded: a tenant invites people, not crowds). */
  async pending(trx: Trx, tenantId: string): Promise<PendingInvitationRow[]> {
    const { rows } = await sql<PendingInvitationRow>`
      select ${columns}, u.email as sender_email
      from invitations i left join users u on u.id = i.invited_by
      where i.tenant_id = ${tenantId} and i.expires_at > now()
      order by i.created_at desc, i.id desc
      limit 1000`.execute(trx);
    return rows;
  },

  /** Revokes one pending invitation by id; false when the tenant has none such. */
  async revoke(trx: Trx, tenantId: string, id: string): Promise<boolean> {
    const r = await sql`delete from invitations where tenant_id = ${tenantId} and id = ${id}`.execute(trx);
    return Number(r.numAffectedRows ?? 0) > 0;
  },

  /** Voids the invitations a user sent in the tenant (their owner role ended). */
  async revokeSentBy(trx: Trx, tenantId: string, userId: string): Promise<number> {
    const r = await sql`
      delete from invitations where tenant_id = ${tenantId} and invited_by = ${userId}`.execute(trx);
    return Number(r.numAffectedRows ?? 0);
  },

  /** Crosses tenants by design (the invitee is not yet a member): system scope only. */
  async forEmail(trx: Trx, email: string): Promise<(InvitationRow & { tenant_name: string })[]> {
    const { rows } = await sql<InvitationRow & { tenant_name: string }>`
      select ${columns}, t.name as tenant_name
      from invitations i join tenants t on t.id = i.tenant_id
      where i.email = ${email} and i.expires_at > now()
      order by i.created_at desc
      limit 1000`.execute(trx);
    return rows;
  },
};
