import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashPassword, SCRYPT } from '../src/access/secrets.ts';
import { AccessService } from '../src/access/service.ts';
import { UnauthorizedError } from '../src/shared/errors.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

/**
 * Passwords hashed at OWASP's current scrypt cost (N=2^17, r=8, p=1), and a hash made at an older,
 * cheaper cost replaced at the next successful sign-in, transparently.
 */
let testDb: TestDatabase;
let access: AccessService;
beforeAll(async () => {
  testDb = await createTestDatabase();
  access = new AccessService({ database: testDb.database });
});
afterAll(async () => {
  await testDb?.destroy();
});

const storedHash = (userId: string) =>
  testDb.database.systemTx(
    async (trx) =>
      (
        await trx
          .selectFrom('user_passwords')
          .select('password_hash')
          .where('user_id', '=', userId)
          .executeTakeFirstOrThrow()
      ).password_hash,
  );

it('hashes new passwords at N=2^17, r=8, p=1', async () => {
  const user = await access.createUser({ email: 'new-cost@example.test', password: 'a passphrase of today' });
  expect(SCRYPT).toMatchObject({ N: 131072, r: 8, p: 1 });
  expect(await storedHash(user.id)).toMatch(/^scrypt\$131072\$8\$1\$/);
});

it('rehashes a password hashed at the old cost on sign-in; a wrong password changes nothing', async () => {
  const password = 'an older passphrase';
  const user = await access.createUser({ email: 'old-cost@example.test', password });
  const old = await hashPassword(password, { N: 2 ** 15, r: 8, p: 1, keyLength: 32 });
  await testDb.database.systemTx((trx) =>
    trx.updateTable('user_passwords').set({ password_hash: old }).where('user_id', '=', user.id).execute(),
  );
  await expect(access.verifyCredentials('old-cost@example.test', 'not it at all')).rejects.toBeInstanceOf(
    UnauthorizedError,
  );
  expect(await storedHash(user.id)).toBe(old);
  expect(await access.verifyCredentials('old-cost@example.test', password)).toMatchObject({ id: user.id });
  const rehashed = await storedHash(user.id);
  expect(rehashed).toMatch(/^scrypt\$131072\$8\$1\$/);
  expect(rehashed).not.toBe(old);
  // The new hash is the same password: signing in again works, and leaves it as it is.
  expect(await access.verifyCredentials('old-cost@example.test', password)).toMatchObject({ id: user.id });
  expect(await storedHash(user.id)).toBe(rehashed);
});
