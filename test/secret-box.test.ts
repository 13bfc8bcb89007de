import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decryptSecret, encryptSecret, generateSecretKey, parseSecretKey } from '../src/graph/secret-box.ts';

const key = parseSecretKey(generateSecretKey());

describe('secret-box', () => {
  it('round-trips a secret in the versioned v1 format', () => {
    const box = encryptSecret('s3cr3t~client-value', key);
    expect(box).toMatch(/^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]*$/);
    const [, iv, tag] = box.split(':');
    expect(Buffer.from(iv!, 'base64')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64')).toHaveLength(16);
    expect(decryptSecret(box, key)).toBe('s3cr3t~client-value');
  });

  it('uses a fresh IV each time', () => {
    expect(encryptSecret('same', key)).not.toBe(encryptSecret('same', key));
  });

  it('detects tampering with ciphertext, tag or IV', () => {
    const box = encryptSecret('tenant secret value', key);
    const parts = box.split(':');
    for (const index of [1, 2, 3]) {
      const raw = Buffer.from(parts[index]!, 'base64');
      raw[0] = raw[0]! ^ 0x01;
      const tampered = [...parts];
      tampered[index] = raw.toString('base64');
      expect(() => decryptSecret(tampered.join(':'), key)).toThrow(/authentication|malformed/);
    }
  });

  it('rejects malformed boxes and unknown versions', () => {
    expect(() => decryptSecret('nonsense', key)).toThrow(/malformed/);
    expect(() => decryptSecret(encryptSecret('x', key).replace(/^v1/, 'v9'), key)).toThrow(/version/);
    expect(() => decryptSecret('v1:!!:!!:!!', key)).toThrow(/malformed/);
  });

  it('fails with the wrong key', () => {
    const box = encryptSecret('secret', key);
    const other = parseSecretKey(generateSecretKey());
    expect(() => decryptSecret(box, other)).toThrow(/wrong key or tampered/);
  });

  it('round-trips arbitrary unicode strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (plain) => {
        expect(decryptSecret(encryptSecret(plain, key), key)).toBe(plain);
      }),
      { numRuns: 300 },
    );
  });

  it('never contains the plaintext in the box', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 6, maxLength: 100 }), (plain) => {
        const box = encryptSecret(plain, key);
        expect(box.includes(plain)).toBe(false);
        expect(box.includes(Buffer.from(plain).toString('base64'))).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('parses hex and base64 keys and rejects everything else without echoing it', () => {
    const hex = 'ab'.repeat(32);
    expect(parseSecretKey(hex)).toEqual(Buffer.alloc(32, 0xab));
    expect(parseSecretKey(`  ${hex.toUpperCase()}\n`)).toEqual(Buffer.alloc(32, 0xab));
    const b64 = Buffer.alloc(32, 7).toString('base64');
    expect(parseSecretKey(b64)).toEqual(Buffer.alloc(32, 7));
    expect(parseSecretKey(Buffer.alloc(32, 0xfb).toString('base64url'))).toEqual(Buffer.alloc(32, 0xfb));
    for (const bad of [
      '',
      'ab'.repeat(31),
      'zz'.repeat(32),
      Buffer.alloc(31).toString('base64'),
      'not-a-key-at-all',
    ]) {
      let message = '';
      try {
        parseSecretKey(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/64 hex characters or the base64 encoding of exactly 32 bytes/);
      if (bad) expect(message).not.toContain(bad);
    }
  });

  it('generates distinct 32-byte keys', () => {
    const a = generateSecretKey();
    expect(parseSecretKey(a)).toHaveLength(32);
    expect(a).not.toBe(generateSecretKey());
  });

  it('refuses keys of the wrong length', () => {
    expect(() => encryptSecret('x', Buffer.alloc(16))).toThrow(/32-byte/);
  });
});
