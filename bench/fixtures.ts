// The callers the benchmark measures with: for each measured tenant an operator (or the role given)
// and an API token,
// created through the product's own access and credential services, as an installation would.
import { CredentialService } from '../src/access/credentials.ts';
import { AccessService } from '../src/access/service.ts';
import type { Role } from '../src/access/tables.ts';
import type { Database } from '../src/db/database.ts';
import { deriveKey, loadRootKey } from '../src/shared/secret-key.ts';

/** The root key the benchmark's servers run with (SECRET_KEY): fixed, the data is throwaway. */
export const BENCH_SECRET_KEY = 'b'.repeat(64);

export type Caller = { tenantId: string; token: string };

export async function createCallers(
  database: Database,
  tenantIds: string[],
  roles: Role[] = [],
): Promise<Caller[]> {
  const rootKey = loadRootKey({ secretKey: BENCH_SECRET_KEY, dataDir: '.' });
  const access = new AccessService({ database });
  const credentials = new CredentialService({ database, csrfKey: deriveKey(rootKey, 'session') });
  const callers: Caller[] = [];
  for (const [i, tenantId] of tenantIds.entries()) {
    const user = await access.createUser({
      email: `operator-${i}-${process.pid}@bench.test`,
      password: `bench-operator-passphrase-${i}-${process.pid}`,
    });
    await access.addMember(tenantId, user.email, roles[i] ?? 'operator');
    const { secret } = await credentials.createToken(user.id, 'bench');
    callers.push({ tenantId, token: secret });
  }
  return callers;
}
