import { CredentialService } from '../access/credentials.ts';
import { AccessService, type Member, type User } from '../access/service.ts';
import type { Role } from '../access/tables.ts';
import type { Database } from '../db/database.ts';
import { NotFoundError } from '../shared/errors.ts';
import { deriveKey } from '../shared/secret-key.ts';

/**
 * The ledger's small administration API, in process (`opsledger.access`): what the command line's
 * tenant:create, user:create, member:add and token:create do, on the ledger's own database, so a
 * suite provisions users and tokens while its server runs, on the embedded database too (whose
 * one process is this one).
 */
export type AccessAdmin = {
  /** A tenant of the ledger's own (for the suite's tenants, prefer `createTenant` with their id). */
  createTenant(name: string): Promise<{ id: string; name: string }>;
  /** A user who signs in with this email and password (validated: 12+ characters, not common). */
  createUser(input: { email: string; password: string; displayName?: string }): Promise<User>;
  /** Gives the user with this email a role in a tenant. */
  addMember(tenantId: string, email: string, role: Role): Promise<Member>;
  /**
   * An API token acting as the user with this email; `secret` is the token to hand over, returned
   * this once (only its hash is kept).
   */
  createToken(email: string, name: string): Promise<{ id: string; name: string; secret: string }>;
  findUserByEmail(email: string): Promise<User | null>;
};

export function createAccessAdmin(database: Database, rootKey: Buffer): AccessAdmin {
  const access = new AccessService({ database });
  const credentials = new CredentialService({ database, csrfKey: deriveKey(rootKey, 'session') });
  return {
    createTenant: (name) => access.createTenant(name),
    createUser: (input) => access.createUser(input),
    addMember: (tenantId, email, role) => access.addMember(tenantId, email, role),
    findUserByEmail: (email) => access.findUserByEmail(email),
    async createToken(email, name) {
      const user = await access.findUserByEmail(email);
      if (!user) throw new NotFoundError('no user has this email');
      const { token, secret } = await credentials.createToken(user.id, name);
      return { id: token.id, name: token.name, secret };
    },
  };
}
