import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { Role } from './tables.ts';

type InvitationRow = { tenant_id: string; email: string; role: Role; created_at: Date };

/** SQL of invitations; emails are stored and compared lower-cased. */
export const invitationRepository = {
  /** A second invitation to the same address replaces the role and restarts the clock. */
  async upsert(trx: Trx, tenantId: string, email: string, role: Role): Promise<InvitationRow> {
    const { rows } = await sql<InvitationRow>`
      insert into invitations (tenant_id, email, role) values (${tenantId}, ${email}, ${role})
      on conflict (tenant_id, email) do update set role = excluded.role, created_at = now()
      returning tenant_id, email, role, created_at`.execute(trx);
    return rows[0]!;
  },

  /** Removes and returns the invitation (accepting or declining uses it up). */
  async take(trx: Trx, tenantId: string, email: string): Promise<InvitationRow | null> {
    const { rows } = await sql<InvitationRow>`
      delete from invitations where tenant_id = ${tenantId} and email = ${email}
      returning tenant_id, email, role, created_at`.execute(trx);
    return rows[0] ?? null;
  },

  /** Crosses tenants by design (the invitee is not yet a member): system scope only. */
  async forEmail(trx: Trx, email: string): Promise<(InvitationRow & { tenant_name: string })[]> {
    const { rows } = await sql<InvitationRow & { tenant_name: string }>`
      select i.tenant_id, i.email, i.role, i.created_at, t.name as tenant_name
      from invitations i join tenants t on t.id = i.tenant_id
      where i.email = ${email}
      order by i.created_at desc
      limit 1000`.execute(trx);
    return rows;
  },
};
