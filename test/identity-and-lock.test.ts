import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  currentHolder,
  DataDirLockedError,
  LOCK_STALE_MS,
  lockDataDir,
  processStartTime,
} from '../src/db/data-dir-lock.ts';
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
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'opsledger.lock'), 'utf8'))).toEqual(currentHolder());
    expect(() => lockDataDir(dir)).toThrow(/already open in this process/);
    release();
    expect(fs.existsSync(path.join(dir, 'opsledger.lock'))).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const lockIn = (dir: string) => path.join(dir, 'opsledger.lock');
  const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-lock-'));

  it('a restart with the same pid (PID 1 in a container) takes over its previous life’s lock', () => {
    const me = currentHolder();
    expect(me.startTime).toMatch(/^\d+$/);
    expect(me.bootId).toBeTruthy();
    const cases = [
      { what: 'another start time', holder: { ...me, startTime: String(Number(me.startTime) - 1) } },
      { what: 'another boot', holder: { ...me, bootId: '00000000-0000-4000-8000-000000000000' } },
      { what: 'a bare pid (earlier format)', holder: null },
    ];
    for (const c of cases) {
      const dir = tempDir();
      fs.writeFileSync(lockIn(dir), c.holder ? JSON.stringify(c.holder) : String(me.pid));
      const release = lockDataDir(dir);
      expect(JSON.parse(fs.readFileSync(lockIn(dir), 'utf8')), c.what).toEqual(me);
      // Now it is this process's own, live lock: a second open here is refused.
      expect(() => lockDataDir(dir), c.what).toThrow(/already open in this process/);
      release();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a live holder is refused; a dead one, or one whose pid now names another process, is not', async () => {
    const dir = tempDir();
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await new Promise((r) => holder.once('spawn', r));
    const pid = holder.pid as number;
    const live = { ...currentHolder(), pid, startTime: processStartTime(pid) };
    try {
      fs.writeFileSync(lockIn(dir), JSON.stringify(live));
      expect(() => lockDataDir(dir)).toThrow(new RegExp(`in use by process ${pid};`));
      // The same pid with another start time: the recorded holder is gone, the pid was reused.
      fs.writeFileSync(lockIn(dir), JSON.stringify({ ...live, startTime: '1' }));
      lockDataDir(dir)();
      expect(fs.existsSync(lockIn(dir))).toBe(false);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    fs.writeFileSync(lockIn(dir), JSON.stringify(live));
    lockDataDir(dir)();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a holder on another host is alive while it touches its lock, stale after', () => {
    const dir = tempDir();
    const other = { ...currentHolder(), host: 'another-container' };
    fs.writeFileSync(lockIn(dir), JSON.stringify(other));
    expect(() => lockDataDir(dir)).toThrow(/in use by process \d+ on host another-container/);
    const old = new Date(Date.now() - LOCK_STALE_MS - 1000);
    fs.utimesSync(lockIn(dir), old, old);
    const release = lockDataDir(dir);
    expect(JSON.parse(fs.readFileSync(lockIn(dir), 'utf8')).host).toBe(os.hostname());
    release();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
