import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './pg-cluster.ts';
import { timeBudget } from './time.ts';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

export type Bouncer = { url: string; stop(): Promise<void> };

/**
 * Debian's PgBouncer of a test's own, in transaction mode, in front of the PostgreSQL server of
 * `directUrl` (trust auth, as the test server). Its URL names the same database.
 */
export async function startPgBouncer(directUrl: string, poolSize = 4): Promise<Bouncer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-pgbouncer-'));
  fs.chmodSync(dir, 0o755);
  const direct = new URL(directUrl);
  const user = decodeURIComponent(direct.username);
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  fs.writeFileSync(path.join(dir, 'users.txt'), `"${user}" ""\n`);
  fs.writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${direct.hostname} port=${direct.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 500',
      '',
    ].join('\n'),
  );
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
  // PgBouncer refuses to run as root; it drops to the postgres user then.
  const args = process.getuid?.() === 0 ? ['-u', 'postgres', ini] : [ini];
  const proc: ChildProcess = spawn(PGBOUNCER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr += d;
  });
  const url = new URL(directUrl);
  url.port = String(port);
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeBudget(20_000);
  for (;;) {
    const c = new pg.Client({ connectionString: url.toString() });
    try {
      await c.connect();
      await c.query('select 1');
      break;
    } catch (err) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        await stop();
        throw new Error(`PgBouncer did not accept connections: ${(err as Error).message} ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await c.end().catch(() => {});
    }
  }
  return { url: url.toString(), stop };
}
