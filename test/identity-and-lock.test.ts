import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../src/db/data-dir-lock.ts';
import { canonicalJson, runIdentityHash } from '../src/ledger/identity.ts';

const shuffleKeys = (value: unknown, rand: () => number): unknown => {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, rand));
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(() => rand() - 0.5);
    return Object.fromEntries(entries.map(([k, v]) => [k, shuffleKeys(v, rand)]));
  }
  return value;
};

describe('run identity', () => {
  const tenant = '0190a0b0-0000-7000-8000-000000000001';

  it('does not depend on key order at any depth', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.integer(), (inputs, seed) => {
        let s = seed;
        const rand = () => {
          s = (s * 1103515245 + 12345) % 2 ** 31;
          return s / 2 ** 31;
        };
        expect(runIdentityHash(tenant, 'a.b', shuffleKeys(inputs, rand) as Record<string, unknown>)).toBe(
          runIdentityHash(tenant, 'a.b', inputs),
        );
      }),
    );
  });

  it('differs when the tenant, the type or any identity input differs', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        fc.pre(canonicalJson(a) !== canonicalJson(b));
        expect(runIdentityHash(tenant, 'a.b', { x: a })).not.toBe(runIdentityHash(tenant, 'a.b', { x: b }));
      }),
    );
    expect(runIdentityHash(tenant, 'a.b', {})).not.toBe(runIdentityHash(tenant, 'a.c', {}));
    expect(runIdentityHash(tenant, 'a.b', {})).not.toBe(
      runIdentityHash('0190a0b0-0000-7000-8000-000000000002', 'a.b', {}),
    );
  });
});

describe('embedded data directory lock', () => {
  it('a second opener in another process fails fast with a clear message; a dead owner’s lock is taken over', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-lock-'));
    // A live process holds the lock.
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    fs.writeFileSync(path.join(dir, 'opsledger.lock'), String(holder.pid));
    try {
      expect(() => lockDataDir(dir)).toThrow(DataDirLockedError);
      expect(() => lockDataDir(dir)).toThrow(new RegExp(`in use by process ${holder.pid}`));
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    // Now the owner is dead: the lock is stale and is taken over.
    const release = lockDataDir(dir);
    expect(fs.readFileSync(path.join(dir, 'opsledger.lock'), 'utf8')).toBe(String(process.pid));
    expect(() => lockDataDir(dir)).toThrow(/already open in this process/);
    release();
    expect(fs.existsSync(path.join(dir, 'opsledger.lock'))).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
