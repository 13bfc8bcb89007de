import { describe, expect, it } from 'vitest';
import { runCli, startServe, useCliTarget } from './helpers/api-cli.ts';

/** migrate, prune and worker as child processes, on PostgreSQL (a cloned database) or a fresh DATA_DIR. */
const target = useCliTarget();

describe('opsledger maintenance commands', () => {
  it('migrate applies what is pending, then reports the database up to date', async () => {
    const first = await runCli(['migrate'], target.env);
    expect(first.code, first.stderr).toBe(0);
    // A fresh embedded database gets every migration; the PostgreSQL clone is already migrated.
    expect(first.stdout).toMatch(
      target.env.DATABASE_URL
        ? /^the database is up to date\n$/
        : /^applied \d+ migration\(s\): 0001_ledger, 0002_access/,
    );
    const second = await runCli(['migrate'], target.env);
    expect(second.stdout).toBe('the database is up to date\n');
  });

  it('prune deletes nothing in a new database and says so', async () => {
    const r = await runCli(['prune'], target.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^pruned 0 run\(s\) completed more than 90 days ago/);
  });

  it('worker starts, and stops cleanly on SIGTERM', async () => {
    const worker = await startServe(target.env, ['worker'], /worker started()/);
    expect(await worker.stop()).toBe(0);
  });

  it('bad flags print one line and exit 2', async () => {
    for (const args of [
      ['migrate', '--force'],
      ['prune', 'now'],
      ['serve', '--port', 'abc'],
      ['worker', '-x'],
    ]) {
      const r = await runCli(args, target.env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });
});
