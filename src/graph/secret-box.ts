// Encryption at rest for tenant client secrets (AES-256-GCM). The version
// prefix lets us rotate the format later without guessing what a row holds.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

function assertKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new Error(`secret key must be a ${KEY_BYTES}-byte Buffer`);
  }
}

export function encryptSecret(plain: string, key: Buffer): string {
  assertKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, iv.toString('base64'), tag.toString('base64'), ct.toString('base64')].join(':');
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodePart(part: string | undefined): Buffer | undefined {
  if (part === undefined || !B64.test(part) || part.length % 4 !== 0) return undefined;
  return Buffer.from(part, 'base64');
}

export function decryptSecret(box: string, key: Buffer): string {
  assertKey(key);
  const parts = typeof box === 'string' ? box.split(':') : [];
  if (parts.length !== 4 || parts[0] !== VERSION) {
    throw new Error('encrypted secret is malformed or has an unsupported version');
  }
  const iv = decodePart(parts[1]);
  const tag = decodePart(parts[2]);
  const ct = decodePart(parts[3]);
  if (iv?.length !== IV_BYTES || tag?.length !== TAG_BYTES || ct === undefined) {
    throw new Error('encrypted secret is malformed');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
  } catch {
    // GCM cannot tell a wrong key from tampering; both mean "do not trust this".
    throw new Error('encrypted secret failed authentication (wrong key or tampered data)');
  }
}

/**
 * Parses the operator-supplied master key. The error never echoes the input:
 * a nearly-right key in a log is nearly as bad as the key itself.
 */
export function parseSecretKey(text: string): Buffer {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  const normalised = trimmed.replace(/-/g, '+').replace(/_/g, '/');
  const padded =
    normalised.length % 4 === 0 ? normalised : normalised + '='.repeat(4 - (normalised.length % 4));
  if (B64.test(padded)) {
    const buf = Buffer.from(padded, 'base64');
    if (buf.length === KEY_BYTES && buf.toString('base64') === padded) return buf;
  }
  throw new Error('secret key must be 64 hex characters or the base64 encoding of exactly 32 bytes');
}

export function generateSecretKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}
