import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli, startServe, useCliTarget } from './helpers/api-cli.ts';

/**
 * The command line as a tool people compare with `gh`, against a real `opsledger serve`: its
 * version, --json field selection and --template, colour and ages on a terminal and plain text in
 * a pipe, exit codes, secrets that never ride on the command line, plain http:// only to this
 * machine, server text that cannot drive the terminal (issue 19), and API-client commands that
 * load none of the server. API-client behaviour does not depend on the server's database, so this
 * runs in the embedded-database pass (as test/cli-runs.test.ts).
 */
const EMBEDDED = !process.env.DATABASE_URL;
console.log(
  EMBEDDED
    ? 'CLI output and safety: running in the embedded-database pass'
    : 'CLI output and safety: not in this pass; it runs in the embedded-database pass',
);
const RECORDER = path.resolve(import.meta.dirname, 'fixtures/record-imports.mjs');
const PACKAGE = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8'));
const ESC = '\x1b';

describe.runIf(EMBEDDED)('the CLI as a tool', () => {
  const target = useCliTarget();
  let server: Awaited<ReturnType<typeof startServe>>;
  let env: Record<string, string>;
  let token = '';
  let tenant = '';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-cli-out-'));

  const ok = (r: CliResult) => {
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  function oneLineError(r: CliResult, code: number) {
    expect(r.code, r.stdout + r.stderr).toBe(code);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    return r.stderr;
  }
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra });

  beforeAll(async () => {
    const email = 'cli-output@example.test';
    tenant = ok(await runCli(['tenant:create', '--name', 'Output'], target.env)).trim();
    ok(
      await runCli(
        ['user:create', '--email', email, '--password-stdin'],
        target.env,
        undefined,
        'output password 1\n',
      ),
    );
    ok(await runCli(['member:add', '--tenant', tenant, '--email', email, '--role', 'owner'], target.env));
    token = ok(await runCli(['token:create', '--email', email], target.env)).trim();
    server = await startServe(target.env);
    env = { OPSLEDGER_URL: server.url, OPSLEDGER_TOKEN: token };
    // Two runs to list (no Graph connection: they fail, which is fine here).
    ok(await cli(['runs', 'start', 'inventory.sync']));
    ok(await cli(['runs', 'start', 'backup.create', '--input', 'name=Nightly']));
  }, 400_000);
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('prints its version, and help with examples for every command', async () => {
    expect(ok(await runCli(['--version'], {}))).toBe(`${PACKAGE.version}\n`);
    const help = ok(await runCli(['runs', 'list', '--help'], {}));
    expect(help).toMatch(/^Usage: opsledger runs list /);
    expect(help).toMatch(/--json \[FIELDS\] +Print JSON/);
    expect(help).toMatch(/^Examples:\n {2}\$ opsledger runs list/m);
    expect(ok(await runCli(['--help'], {}))).toMatch(/^Exit codes:\n.*2 bad usage +3 not found +4 /m);
  });

  it('--json FIELDS selects fields, --template formats, an unknown field is bad usage', async () => {
    const runs = JSON.parse(ok(await cli(['runs', 'list', '--json', 'id,status,typeLabel'])));
    expect(runs).toHaveLength(2);
    for (const r of runs) expect(Object.keys(r)).toEqual(['id', 'status', 'typeLabel']);
    const all = JSON.parse(ok(await cli(['runs', 'list', '--json'])));
    expect(Object.keys(all[0])).toContain('failureSummary');
    const one = JSON.parse(ok(await cli(['runs', 'view', runs[0].id, '--json', 'id,attempts'])));
    expect(one).toEqual({ id: runs[0].id, attempts: expect.any(Number) });
    const lines = ok(await cli(['runs', 'list', '--template', '{{.id}}\\t{{.initiator.kind}}']))
      .trimEnd()
      .split('\n');
    expect(lines).toEqual(runs.map((r: { id: string }) => `${r.id}\tapi`));
    expect(oneLineError(await cli(['runs', 'list', '--json', 'id,nope']), 2)).toMatch(
      /unknown JSON field "nope"; available fields: id, tenantId, /,
    );
  });

  it('colour and ages on a terminal (NO_COLOR respected), plain UTC times in a pipe', async () => {
    const piped = ok(await cli(['runs', 'list']));
    expect(piped).not.toContain(ESC);
    expect(piped.split('\n')[0]).toMatch(/^ID +STATUS +TITLE +TYPE +INITIATOR +DURATION +CREATED$/);
    expect(piped).toMatch(/ \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/m);
    const tty = ok(await cli(['runs', 'list'], { OPSLEDGER_FORCE_TTY: '1' }));
    expect(tty.split('\n')[0]).toMatch(/ AGE$/);
    expect(tty).toMatch(/(\d+ (seconds?|minutes?) ago|now)$/m);
    expect(tty).toContain(`${ESC}[`);
    const noColour = ok(await cli(['runs', 'list'], { OPSLEDGER_FORCE_TTY: '1', NO_COLOR: '1' }));
    expect(noColour).not.toContain(ESC);
    expect(noColour).toMatch(/ago|now/);
  });

  it('exit codes: 4 without or with a refused token, 3 for an unknown run, 2 for bad usage', async () => {
    expect(oneLineError(await cli(['runs', 'list'], { OPSLEDGER_TOKEN: '' }), 4)).toMatch(/no API token/);
    expect(oneLineError(await cli(['runs', 'list'], { OPSLEDGER_TOKEN: 'olt_wrong' }), 4)).toMatch(/401/);
    expect(oneLineError(await cli(['runs', 'view', '00000000-0000-4000-8000-000000000009']), 3)).toMatch(
      /404/,
    );
    oneLineError(await cli(['runs', 'list', '--limit']), 2);
    oneLineError(await cli(['runs', 'list', '--frobnicate']), 2);
  });

  it('takes the token from stdin or a file, never from the command line', async () => {
    const noEnv = { OPSLEDGER_TOKEN: '' };
    const fromStdin = await runCli(
      ['runs', 'list', '--token-stdin'],
      { ...env, ...noEnv },
      undefined,
      `${token}\n`,
    );
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    const file = path.join(tmp, 'token');
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
    ok(await cli(['runs', 'list', '--token-file', file], noEnv));
    const refused = oneLineError(await cli(['runs', 'list', '--token', token], noEnv), 2);
    expect(refused).toMatch(/--token is not taken: .*--token-stdin/);
    expect(refused).not.toContain(token);
    oneLineError(await cli(['runs', 'list', '--token-file', path.join(tmp, 'missing')], noEnv), 2);
  });

  it('refuses plain http:// to another machine unless --insecure', async () => {
    const remote = { OPSLEDGER_URL: 'http://opsledger.invalid:3000' };
    expect(oneLineError(await cli(['runs', 'list'], remote), 2)).toMatch(
      /refusing plain http:\/\/ to opsledger\.invalid:3000.*--insecure/,
    );
    // With --insecure it tries (and here cannot reach the made-up host).
    expect(oneLineError(await cli(['runs', 'list', '--insecure'], remote), 1)).toMatch(/cannot reach/);
    // https:// anywhere and http:// to this machine need nothing.
    ok(await cli(['runs', 'list'], { OPSLEDGER_URL: server.url.replace('127.0.0.1', 'localhost') }));
  });

  it('prints terminal escape sequences from the server as text, in tables, lines and JSON', async () => {
    const evil = `${ESC}]0;owned${'\x07'}${ESC}[2J${ESC}[31mred\u202egnp.exe\x9b1m`;
    const created = ok(
      await cli(['schedules', 'create', evil, '--type', 'inventory.sync', '--cron', '0 3 * * *']),
    );
    const id = /schedule ([0-9a-f-]{36})/.exec(created)?.[1] ?? '';
    const list = ok(await cli(['schedules', 'list']));
    const view = `${created}${list}`;
    for (const raw of [ESC, '\x07', '\u202e', '\x9b']) expect(view).not.toContain(raw);
    expect(list).toContain('\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\u202egnp.exe\\x9b1m');
    const json = ok(await cli(['schedules', 'list', '--json', 'id,name']));
    for (const raw of [ESC, '\x07', '\u202e', '\x9b']) expect(json).not.toContain(raw);
    expect(JSON.parse(json)).toContainEqual({ id, name: evil });
    const templated = ok(await cli(['schedules', 'list', '--template', '{{.name}}']));
    expect(templated).not.toContain(ESC);
    ok(await cli(['schedules', 'delete', id]));
  });

  it('the API-client commands load none of the server: no Fastify, database, queue or logger', async () => {
    const record = path.join(tmp, 'imports');
    const bin = path.resolve(import.meta.dirname, '../bin/opsledger.js');
    const child = spawnSync(process.execPath, ['--import', RECORDER, bin, 'runs', 'list'], {
      env: { ...process.env, ...env, RECORD_IMPORTS: record, DATABASE_URL: '' },
      encoding: 'utf8',
    });
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout).toMatch(/^ID +STATUS/);
    const loaded = fs.readFileSync(record, 'utf8').split('\n');
    expect(loaded.some((u) => u.includes('/node_modules/commander/'))).toBe(true);
    expect(loaded.some((u) => u.includes('/node_modules/openapi-fetch/'))).toBe(true);
    const heavy = loaded.filter((u) =>
      /\/node_modules\/(fastify|pg-boss|@electric-sql|pg|kysely|pino|prom-client|typebox)\/|\/src\/(db|ledger|http|worker|suite|access|graph)\/|\/src\/main\/(?!config\.ts)/.test(
        u,
      ),
    );
    expect(heavy).toEqual([]);
  });
});
