import { uuidv7 } from 'uuidv7';
import type { Trx } from '../db/database.ts';

/** Tenants are created by the system (CLI, demo, provisioning), never by a tenant's own caller. */
export const tenantRepository = {
  async create(trx: Trx, input: { name: string; id?: string }): Promise<{ id: string; name: string }> {
    return trx
      .insertInto('tenants')
      .values({ id: input.id ?? uuidv7(), name: input.name })
      .returning(['id', 'name'])
      .executeTakeFirstOrThrow();
  },

  async exists(trx: Trx, tenantId: string): Promise<boolean> {
    const row = await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
    return row !== undefined;
  },
};
