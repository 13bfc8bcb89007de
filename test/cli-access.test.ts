import { describe, expect, it } from 'vitest';
import { type CliResult, runCli, startServe, useCliTarget } from './helpers/api-cli.ts';

/**
 * The access commands and `serve`, run as child processes: on PostgreSQL against a cloned test
 * database, on the embedded database in a fresh DATA_DIR.
 */
const target = useCliTarget();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function oneLineError(r: CliResult, code: number) {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
}

describe('opsledger access commands', () => {
  let tenantId: string;
  let token: string;
  const email = 'cli-owner@example.test';
  const password = 'correct horse battery';

  it('tenant:create prints the new tenant id', async () => {
    const r = await runCli(['tenant:create', '--name', 'Acme CLI'], target.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(UUID);
    tenantId = r.stdout.trim();
  }, 400_000); // the first command creates the embedded database: slow on a loaded machine

  it('user:create, member:add and token:create (which prints only the token)', async () => {
    const user = await runCli(
      ['user:create', '--email', email, '--password-stdin', '--name', 'Owner'],
      target.env,
      undefined,
      `${password}\n`,
    );
    expect(user.code, user.stderr).toBe(0);
    expect(user.stdout.trim()).toMatch(UUID);
    const member = await runCli(
      ['member:add', '--tenant', tenantId, '--email', email, '--role', 'owner'],
      target.env,
    );
    expect(member.code, member.stderr).toBe(0);
    const tok = await runCli(['token:create', '--email', email], target.env);
    expect(tok.code, tok.stderr).toBe(0);
    expect(tok.stdout).toMatch(/^olt_[0-9a-f]{32}_[A-Za-z0-9_-]{43}\n$/);
    token = tok.stdout.trim();
    // No secret in what the commands said besides the token itself.
    expect(user.stdout + user.stderr + member.stdout + member.stderr).not.toContain(password);
  }, 400_000); // three processes, each opening the database

  it('refuses bad usage with one line and exit 2, unknown ids with exit 3, and failures with exit 1', async () => {
    oneLineError(await runCli(['tenant:create'], target.env), 2);
    oneLineError(await runCli(['tenant:create', '--name', 'x', '--bogus'], target.env), 2);
    oneLineError(
      await runCli(
        ['user:create', '--email', 'not-an-email', '--password-stdin'],
        target.env,
        undefined,
        'longenough',
      ),
      2,
    );
    oneLineError(
      await runCli(
        ['user:create', '--email', 'short@example.test', '--password-stdin'],
        target.env,
        undefined,
        'short',
      ),
      2,
    );
    oneLineError(
      await runCli(['member:add', '--tenant', tenantId, '--email', email, '--role', 'king'], target.env),
      2,
    );
    oneLineError(
      await runCli(['member:add', '--tenant', 'nope', '--email', email, '--role', 'viewer'], target.env),
      2,
    );
    oneLineError(await runCli(['token:create'], target.env), 2);
    oneLineError(await runCli(['no-such-command'], target.env), 2);
    const dup = await runCli(['user:create', '--email', email], {
      ...target.env,
      OPSLEDGER_PASSWORD: 'another password',
    });
    oneLineError(dup, 1);
    expect(dup.stderr).toMatch(/already exists/);
    expect(dup.stderr).not.toContain('another password');
    const unknownTenant = await runCli(
      [
        'member:add',
        '--tenant',
        '00000000-0000-4000-8000-000000000000',
        '--email',
        email,
        '--role',
        'viewer',
      ],
      target.env,
    );
    // Not found is its own exit code (3), as `gh` separates its cases.
    oneLineError(unknownTenant, 3);
    oneLineError(await runCli(['token:create', '--email', 'ghost@example.test'], target.env), 3);
    oneLineError(
      await runCli(['member:add', '--tenant', tenantId, '--email', email, '--role', 'viewer'], target.env),
      1,
    );
  }, 400_000); // a dozen processes, each opening the database: slow on a loaded machine

  it('every command answers --help with its usage', async () => {
    const list = await runCli(['--help'], target.env);
    expect(list.code).toBe(0);
    const names = [...list.stdout.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!);
    for (const name of [
      'serve',
      'worker',
      'migrate',
      'prune',
      'tenant:create',
      'user:create',
      'member:add',
      'token:create',
    ]) {
      expect(names).toContain(name);
    }
    for (const name of ['tenant:create', 'user:create', 'member:add', 'token:create', 'serve']) {
      const r = await runCli([name, '--help'], target.env);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: opsledger ${name}`);
    }
  });

  it('serve serves the API: the token and a password sign-in both reach the tenant', async () => {
    const server = await startServe(target.env);
    try {
      const tenants = await fetch(`${server.url}/api/v1/tenants`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(tenants.status).toBe(200);
      expect(await tenants.json()).toEqual({ data: [{ id: tenantId, name: 'Acme CLI', role: 'owner' }] });
      const login = await fetch(`${server.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      expect(login.status).toBe(200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const list = await fetch(`${server.url}/api/v1/tenants/${tenantId}/operations`, {
        headers: { cookie },
      });
      expect(list.status).toBe(200);
      expect(await list.json()).toEqual({ data: [], nextCursor: null });
      const types = await fetch(`${server.url}/api/v1/operation-types`, { headers: { cookie } });
      expect(((await types.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
