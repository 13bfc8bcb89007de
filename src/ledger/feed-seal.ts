import { createHash, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { withDbErrors } from '../shared/errors.ts';

/** The database's key that opens sealed notices, read with the connecting (owning) role. */
export async function readFeedKey(database: Database): Promise<Buffer> {
  const { rows } = await withDbErrors(() =>
    sql<{ key: Uint8Array }>`select key from change_feed_key`.execute(database.db),
  );
  const key = rows[0]?.key;
  if (!key) throw new Error('the change feed has no key (is the database migrated?)');
  return Buffer.from(key);
}

/**
 * Opens a sealed change-feed notice (migrations/0009_change_feed_sealed.sql): `hex(nonce).
 * base64(ciphertext).hex(tag)`, with a 64-byte key of the database (32 bytes to decrypt, 32 to
 * authenticate). Returns the text, or null when the notice is not one the database sealed with
 * this key (malformed, forged, altered): anyone may NOTIFY on the channel, so nothing unsealed
 * or unauthenticated is ever trusted.
 */
export function openSealed(key: Buffer, payload: string): string | null {
  if (key.length !== 64) throw new Error('the change feed key must be 64 bytes');
  const parts = payload.split('.');
  if (parts.length !== 3) return null;
  const [nonceHex, body, tagHex] = parts as [string, string, string];
  if (!/^[0-9a-f]{32}$/.test(nonceHex) || !/^[0-9a-f]{32}$/.test(tagHex)) return null;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return null;
  const nonce = Buffer.from(nonceHex, 'hex');
  const ct = Buffer.from(body, 'base64');
  const length = Buffer.alloc(4);
  length.writeInt32BE(ct.length);
  const tag = createHash('sha256')
    .update(key.subarray(32))
    .update(length)
    .update(nonce)
    .update(ct)
    .digest()
    .subarray(0, 16);
  if (!timingSafeEqual(tag, Buffer.from(tagHex, 'hex'))) return null;
  const plain = Buffer.alloc(ct.length);
  const encKey = key.subarray(0, 32);
  const counter = Buffer.alloc(4);
  for (let block = 0; block * 32 < ct.length; block++) {
    counter.writeInt32BE(block);
    const stream = createHash('sha256').update(encKey).update(nonce).update(counter).digest();
    const at = block * 32;
    const end = Math.min(at + 32, ct.length);
    for (let i = at; i < end; i++) plain[i] = ct[i]! ^ stream[i - at]!;
  }
  return plain.toString('utf8');
}
