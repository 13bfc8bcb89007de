import fs from 'node:fs';
import path from 'node:path';

export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
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

/**
 * PGlite takes no lock on its data directory, and two processes opening the same one silently
 * lose each other's writes. This lock file makes a second process fail fast instead.
 * A lock left by a process that no longer exists is taken over.
 */
export function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'opsledger.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
        } catch {
          // Already gone.
        }
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
      if (Number.isInteger(owner) && owner !== process.pid && processAlive(owner)) {
        throw new DataDirLockedError(
          `the embedded database in ${dataDir} is in use by process ${owner}; stop it, use another DATA_DIR, or set DATABASE_URL to share a PostgreSQL database`,
        );
      }
      if (owner === process.pid) {
        throw new DataDirLockedError(`the embedded database in ${dataDir} is already open in this process`);
      }
      // Stale lock from a dead process: remove it and try again.
      fs.rmSync(file, { force: true });
    }
  }
  throw new DataDirLockedError(`could not lock the embedded database in ${dataDir}`);
}
