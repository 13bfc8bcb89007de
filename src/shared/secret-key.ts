import { hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** SECRET_KEY's two accepted spellings: 64 hex characters, or base64 of exactly 32 bytes; else null. */
export function parseSecretKey(text: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return null;
  const key = Buffer.from(text, 'base64');
  return key.length === 32 ? key : null;
}

/**
 * The root key: SECRET_KEY when set (required in production); otherwise a key generated once and
 * kept in DATA_DIR so an embedded demo keeps working across restarts. Purpose keys are derived
 * from it, so one leaked purpose key does not expose the others.
 */
export function loadRootKey(config: { secretKey: string | null; dataDir: string }): Buffer {
  if (config.secretKey) {
    const key = parseSecretKey(config.secretKey);
    if (!key) throw new Error('SECRET_KEY must be 64 hex characters or base64 of 32 bytes');
    return key;
  }
  const file = path.join(config.dataDir, 'secret.key');
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    return Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(32);
  try {
    fs.writeFileSync(file, key.toString('hex'), { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    // Another process wrote it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      return Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'hex');
    throw err;
  }
}

export function deriveKey(
  root: Buffer,
  purpose: 'alerts' | 'cursor' | 'graph-secrets' | 'graph-simulator' | 'session',
): Buffer {
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `opsledger:${purpose}`, 32));
}
