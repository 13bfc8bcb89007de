import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

/**
 * Who holds the lock. A pid alone is not enough: in a container the server has the same small pid
 * every time, so a container restarted after a crash would find "its own" pid in the lock its
 * previous life left. The kernel's boot id and the process's start time (clock ticks since boot)
 * tell that process apart from any later one with the same pid. The host name and the pid
 * namespace tell a process this one cannot see: another machine, or another container (even one
 * on the host's network, which shares the host name) or a later life of this one.
 */
export type LockHolder = {
  pid: number;
  bootId: string | null;
  startTime: string | null;
  host: string;
  pidNamespace: string | null;
};

/**
 * How often the holder touches its lock, and how old a touch may be before the lock is stale when
 * its holder cannot be seen. Generous: a busy embedded database can keep the event loop for seconds.
 */
export const LOCK_HEARTBEAT_MS = 2_000;
export const LOCK_STALE_MS = 15_000;

function readProc(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The start time of a process (field 22 of /proc/PID/stat), or null where there is no /proc. */
export function processStartTime(pid: number): string | null {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return null;
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

function pidNamespace(): string | null {
  try {
    return fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

export function currentHolder(): LockHolder {
  return {
    pid: process.pid,
    bootId: readProc('/proc/sys/kernel/random/boot_id')?.trim() || null,
    startTime: processStartTime(process.pid),
    host: os.hostname(),
    pidNamespace: pidNamespace(),
  };
}

/** A lock file's holder; a bare pid is the format of earlier versions. */
function parseHolder(text: string): LockHolder | null {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    return { pid: Number(trimmed), bootId: null, startTime: null, host: '', pidNamespace: null };
  }
  try {
    const v = JSON.parse(trimmed) as Partial<LockHolder>;
    if (!Number.isInteger(v.pid)) return null;
    return {
      pid: v.pid as number,
      bootId: typeof v.bootId === 'string' ? v.bootId : null,
      startTime: typeof v.startTime === 'string' ? v.startTime : null,
      host: typeof v.host === 'string' ? v.host : '',
      pidNamespace: typeof v.pidNamespace === 'string' ? v.pidNamespace : null,
    };
  } catch {
    return null;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sameHolder = (a: LockHolder, b: LockHolder) =>
  a.pid === b.pid &&
  a.bootId === b.bootId &&
  a.startTime === b.startTime &&
  a.host === b.host &&
  a.pidNamespace === b.pidNamespace;

type HolderState = 'self' | 'alive' | 'unseen' | 'stale';

/**
 * Whether the holder recorded in a lock still runs: 'self' when it is this very process. A holder
 * this process cannot see (another host or pid namespace) is 'unseen': alive while it keeps
 * touching the lock, stale once it has not for LOCK_STALE_MS.
 */
function holderState(holder: LockHolder, me: LockHolder, lockAgeMs: number, staleMs: number): HolderState {
  if (sameHolder(holder, me)) return 'self';
  const legacy = holder.bootId === null && holder.startTime === null && holder.host === '';
  if (legacy) {
    // Earlier versions wrote the pid alone; this process writes more, so its own pid there is a
    // previous life of this container.
    return holder.pid !== me.pid && processAlive(holder.pid) ? 'alive' : 'stale';
  }
  // Same host but another boot: every process of that boot is gone.
  if (holder.host === me.host && holder.bootId !== me.bootId) return 'stale';
  if (holder.host !== me.host || holder.pidNamespace !== me.pidNamespace) {
    return lockAgeMs < staleMs ? 'unseen' : 'stale';
  }
  if (holder.pid === me.pid) return 'stale';
  if (!processAlive(holder.pid)) return 'stale';
  // The pid runs, but is it the same process? Another one may have been given the pid since.
  const startTime = processStartTime(holder.pid);
  return startTime === null || holder.startTime === null || startTime === holder.startTime
    ? 'alive'
    : 'stale';
}

/**
 * PGlite takes no lock on its data directory, and two processes opening the same one silently
 * lose each other's writes. This lock file makes a second process fail fast instead.
 * A lock left by a process that no longer exists is taken over. One whose holder cannot be seen
 * (a container restarted after a crash finds its previous life's lock so) is waited for until its
 * heartbeat has stopped for LOCK_STALE_MS; while the heartbeat goes on, it is refused.
 */
export async function lockDataDir(dataDir: string, options: { staleMs?: number } = {}): Promise<() => void> {
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'opsledger.lock');
  const me = currentHolder();
  const content = JSON.stringify(me);
  const waitUntil = Date.now() + staleMs + 2 * LOCK_HEARTBEAT_MS;
  for (let attempt = 0; attempt < 3; ) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, content);
      fs.closeSync(fd);
      // Seen from another host or container, a lock is held while it is touched.
      const heartbeat = setInterval(() => {
        try {
          const now = new Date();
          fs.utimesSync(file, now, now);
        } catch {
          // The directory went away; the database will say so.
        }
      }, LOCK_HEARTBEAT_MS);
      heartbeat.unref();
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        clearInterval(heartbeat);
        try {
          if (fs.readFileSync(file, 'utf8') === content) fs.unlinkSync(file);
        } catch {
          // Already gone.
        }
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let text: string;
      let ageMs: number;
      try {
        text = fs.readFileSync(file, 'utf8');
        ageMs = Date.now() - fs.statSync(file).mtimeMs;
      } catch {
        attempt++;
        continue; // Removed in between: try again.
      }
      const holder = parseHolder(text);
      const state = holder ? holderState(holder, me, ageMs, staleMs) : 'stale';
      if (state === 'unseen' && Date.now() < waitUntil) {
        await delay(500);
        continue;
      }
      if (state === 'self') {
        throw new DataDirLockedError(`the embedded database in ${dataDir} is already open in this process`);
      }
      if ((state === 'alive' || state === 'unseen') && holder) {
        const where =
          holder.host && holder.host !== me.host
            ? ` on host ${holder.host}`
            : state === 'unseen'
              ? ' in another container (another pid namespace)'
              : '';
        throw new DataDirLockedError(
          `the embedded database in ${dataDir} is in use by process ${holder.pid}${where}; stop it, use another DATA_DIR, or set DATABASE_URL to share a PostgreSQL database`,
        );
      }
      // Stale lock from a process that is gone: remove it and try again.
      fs.rmSync(file, { force: true });
      attempt++;
    }
  }
  throw new DataDirLockedError(`could not lock the embedded database in ${dataDir}`);
}
