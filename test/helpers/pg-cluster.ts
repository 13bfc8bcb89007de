// PostgreSQL clusters of a test's own (Debian's PostgreSQL 15 binaries), for the tests that stop a
// server, stream to a replica or put a pooler in front: never the shared server the suite uses.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { timeBudget } from './time.ts';

export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

/** Runs a PostgreSQL binary; initdb and postgres refuse to run as root, so as root as `postgres`. */
export function asPostgres(cmd: string, args: string[]): Buffer {
  const root = process.getuid?.() === 0;
  return execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'postgres', '--', cmd, ...args] : args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: timeBudget(60_000),
  });
}

/** Lets the `postgres` user own a folder it must write in (when running as root). */
export function ownForPostgres(dir: string): void {
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres', dir]);
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A new cluster's data folder: trust authentication, superuser `postgres`, no fsync at creation. */
export function initdb(data: string): void {
  asPostgres(`${POSTGRES_BIN}/initdb`, [
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'postgres',
    '--no-sync',
    '-E',
    'UTF8',
  ]);
}

export type Cluster = { url: string; start(): void; stop(): void };

/**
 * The cluster in `data` on `port`, its socket and its log (`<name>.log`) in `dir`, with fsync off
 * and any further settings (`name=value`). Not started: start() starts it and waits until it
 * accepts connections; stop() stops it like a crash (no checkpoint, connections dropped).
 */
export function clusterAt(
  dir: string,
  name: string,
  data: string,
  port: number,
  settings: string[] = [],
): Cluster {
  const opts = [
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
    ...settings.map((s) => `-c ${s}`),
  ].join(' ');
  const ctl = (...args: string[]) => asPostgres(`${POSTGRES_BIN}/pg_ctl`, ['-D', data, ...args]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => ctl('-o', opts, '-l', path.join(dir, `${name}.log`), '-w', 'start'),
    stop: () => ctl('-m', 'immediate', '-w', 'stop'),
  };
}
