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
  const lockIn = (dir: string) => path.join(dir, 'opsledger.lock');
  const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-lock-'));

  it('a second opener in another process fails fast with a clear message; a dead owner’s lock is taken over', async () => {
    const dir = tempDir();
    // A live process holds the lock (a bare pid: the format of earlier versions).
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    fs.writeFileSync(lockIn(dir), String(holder.pid));
    try {
      await expect(lockDataDir(dir)).rejects.toThrow(DataDirLockedError);
      await expect(lockDataDir(dir)).rejects.toThrow(new RegExp(`in use by process ${holder.pid};`));
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    // Now the owner is dead: the lock is stale and is taken over.
    const release = await lockDataDir(dir);
    expect(JSON.parse(fs.readFileSync(lockIn(dir), 'utf8'))).toEqual(currentHolder());
    await expect(lockDataDir(dir)).rejects.toThrow(/already open in this process/);
    release();
    expect(fs.existsSync(lockIn(dir))).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a restart with the same pid takes over its previous life’s lock', async () => {
    const me = currentHolder();
    expect(me.startTime).toMatch(/^\d+$/);
    expect(me.bootId).toBeTruthy();
    expect(me.pidNamespace).toMatch(/^pid:\[\d+\]$/);
    const cases = [
      { what: 'another start time', holder: { ...me, startTime: String(Number(me.startTime) - 1) } },
      { what: 'another boot', holder: { ...me, bootId: '00000000-0000-4000-8000-000000000000' } },
      { what: 'a bare pid (earlier format)', holder: null },
    ];
    for (const c of cases) {
      const dir = tempDir();
      fs.writeFileSync(lockIn(dir), c.holder ? JSON.stringify(c.holder) : String(me.pid));
      const release = await lockDataDir(dir);
      expect(JSON.parse(fs.readFileSync(lockIn(dir), 'utf8')), c.what).toEqual(me);
      // Now it is this process's own, live lock: a second open here is refused.
      await expect(lockDataDir(dir), c.what).rejects.toThrow(/already open in this process/);
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
      await expect(lockDataDir(dir)).rejects.toThrow(new RegExp(`in use by process ${pid};`));
      // The same pid with another start time: the recorded holder is gone, the pid was reused.
      fs.writeFileSync(lockIn(dir), JSON.stringify({ ...live, startTime: '1' }));
      (await lockDataDir(dir))();
      expect(fs.existsSync(lockIn(dir))).toBe(false);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    fs.writeFileSync(lockIn(dir), JSON.stringify(live));
    (await lockDataDir(dir))();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['another host', { host: 'another-machine' }, /in use by process \d+ on host another-machine;/],
    [
      'another container on the host’s network (same host name, same pid)',
      { pidNamespace: 'pid:[1]' },
      /in use by process \d+ in another container \(another pid namespace\);/,
    ],
  ])(
    'a holder it cannot see (%s) is refused while it touches its lock, taken over once it stops',
    async (_what, other, refused) => {
      const dir = tempDir();
      fs.writeFileSync(lockIn(dir), JSON.stringify({ ...currentHolder(), ...other }));
      const staleMs = 1000;
      const touching = setInterval(() => {
        const now = new Date();
        fs.utimesSync(lockIn(dir), now, now);
      }, 100);
      try {
        await expect(lockDataDir(dir, { staleMs })).rejects.toThrow(refused);
      } finally {
        clearInterval(touching);
      }
      // Its heartbeat stopped (a crash, or the container's previous life): waited for, then taken over.
      const release = await lockDataDir(dir, { staleMs });
      expect(JSON.parse(fs.readFileSync(lockIn(dir), 'utf8'))).toEqual(currentHolder());
      release();
      const old = new Date(Date.now() - LOCK_STALE_MS - 1000);
      fs.writeFileSync(lockIn(dir), JSON.stringify({ ...currentHolder(), ...other }));
      fs.utimesSync(lockIn(dir), old, old);
      (await lockDataDir(dir))();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  );
});
