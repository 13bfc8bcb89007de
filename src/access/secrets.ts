import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Credentials are `<prefix>_<id>_<secret>`: the id finds the row, the secret is checked against
 * its stored SHA-256 in constant time, so neither a lookup by secret nor a string comparison can
 * leak how much of a guess was right. Only the hash is ever stored.
 */
export type Credential = { id: string; secret: string };

const UUID_HEX = /^[0-9a-f]{32}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function formatCredential(prefix: string, id: string, secret: string): string {
  return `${prefix}_${id.replaceAll('-', '')}_${secret}`;
}

export function parseCredential(prefix: string, value: string): Credential | null {
  if (value.length > 200 || !value.startsWith(`${prefix}_`)) return null;
  const rest = value.slice(prefix.length + 1);
  const idHex = rest.slice(0, 32);
  const secret = rest.slice(33);
  if (rest[32] !== '_' || !UUID_HEX.test(idHex) || !SECRET.test(secret)) return null;
  const id = `${idHex.slice(0, 8)}-${idHex.slice(8, 12)}-${idHex.slice(12, 16)}-${idHex.slice(16, 20)}-${idHex.slice(20)}`;
  return { id, secret };
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const given = Buffer.from(sha256Hex(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}

/** A per-session CSRF token: derived, so nothing more is stored, and useless without the cookie. */
export function csrfTokenFor(key: Buffer, sessionId: string): string {
  return createHmac('sha256', key).update(`csrf|${sessionId}`).digest('base64url');
}

export function csrfMatches(key: Buffer, sessionId: string, given: string): boolean {
  const expected = Buffer.from(csrfTokenFor(key, sessionId));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

// scrypt parameters travel with each hash, so they can be raised later without breaking old ones:
// OWASP's current minimum (N=2^17, r=8, p=1); a hash made at a lower cost is replaced at the next
// sign-in (needsRehash).
export const SCRYPT = { N: 2 ** 17, r: 8, p: 1, keyLength: 32 };

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number, len: number) {
  return new Promise<Buffer>((resolve, reject) => {
    // scrypt needs 128·N·r bytes; the default limit (32 MiB) is below N=2^17's 128 MiB.
    scrypt(password, salt, len, { N, r, p, maxmem: 256 * N * r }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Whether a stored hash was made with other (older, cheaper) parameters than SCRYPT's. */
export function needsRehash(stored: string): boolean {
  const [scheme, n, r, p] = stored.split('$');
  return scheme !== 'scrypt' || Number(n) !== SCRYPT.N || Number(r) !== SCRYPT.r || Number(p) !== SCRYPT.p;
}

export async function hashPassword(password: string, params = SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p, keyLength } = params;
  const key = await scryptAsync(password, salt, N, r, p, keyLength);
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await scryptAsync(
    password,
    Buffer.from(salt, 'base64url'),
    Number(n),
    Number(r),
    Number(p),
    expected.length,
  );
  return timingSafeEqual(actual, expected);
}

/**
 * A hash of no one's password: signing in with an unknown email still pays for one scrypt, so
 * the response time does not tell whether the email exists.
 */
export const DUMMY_PASSWORD_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${randomBytes(16).toString('base64url')}$${randomBytes(32).toString('base64url')}`;
