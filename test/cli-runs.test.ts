import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TENANTS } from '../src/suite/demo.ts';
import { type CliResult, runCli, startServe, useCliTarget } from './helpers/api-cli.ts';

/**
 * `opsledger runs …` and `opsledger schedules …` as child processes against a real `opsledger
 * serve` (the suite's own operation types on the Graph simulator), with an API token, as an
 * operator would use them. These commands are API clients: what they print and how they fail does
 * not depend on the server's database, whose every route both passes test through the API, so they
 * run in one pass, the embedded-database pass (the one `npm test` makes on any machine).
 */
const EMBEDDED = !process.env.DATABASE_URL;
console.log(
  EMBEDDED
    ? 'CLI runs/schedules commands: running in the embedded-database pass'
    : 'CLI runs/schedules commands: not in this pass; they run in the embedded-database pass',
);
describe.runIf(EMBEDDED)('the CLI as an API client', () => {
  const target = useCliTarget();
  const contoso = DEMO_TENANTS[0].id;
  let server: Awaited<ReturnType<typeof startServe>>;
  let client: Record<string, string>;
  let emptyTenant: string;

  const ok = (r: CliResult) => {
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  function oneLineError(r: CliResult, code: number) {
    expect(r.code, r.stdout + r.stderr).toBe(code);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    return r.stderr;
  }
  const cli = (args: string[]) => runCli(args, client);
  const runIdIn = (text: string) => /run ([0-9a-f-]{36})/.exec(text)?.[1] ?? '';

  beforeAll(async () => {
    const env = target.env;
    ok(await runCli(['demo'], env));
    const email = 'ops-cli@example.test';
    ok(
      await runCli(
        ['user:create', '--email', email, '--password-stdin'],
        env,
        undefined,
        'operator password 1',
      ),
    );
    ok(await runCli(['member:add', '--tenant', contoso, '--email', email, '--role', 'operator'], env));
    emptyTenant = ok(await runCli(['tenant:create', '--name', 'Second'], env)).trim();
    ok(await runCli(['member:add', '--tenant', emptyTenant, '--email', email, '--role', 'viewer'], env));
    const token = ok(await runCli(['token:create', '--email', email], env)).trim();
    server = await startServe(env);
    client = { OPSLEDGER_URL: server.url, OPSLEDGER_TOKEN: token };
  }, 400_000);
  afterAll(async () => {
    await server?.stop();
  });

  describe('opsledger runs', () => {
    let synced = '';
    let failed = '';

    it('start prints the run, and whether it was deduplicated', async () => {
      synced = runIdIn(ok(await cli(['runs', 'start', 'inventory.sync', '--tenant', contoso])));
      expect(synced).toMatch(/^[0-9a-f-]{36}$/);
      // A drift against a baseline that does not exist is refused at the door: no run is made.
      const refused = await cli([
        'runs',
        'start',
        'drift.generate',
        '--input',
        `baselineId=${randomUUID()}`,
        '--tenant',
        contoso,
      ]);
      expect(oneLineError(refused, 3)).toMatch(/404/);
      // A restore of an item its backup does not hold fails (every item it names fails). The
      // backup is one the demo made in this tenant, as the API lists it.
      const sets = await fetch(`${server.url}/api/v1/tenants/${contoso}/backup-sets`, {
        headers: { authorization: `Bearer ${client.OPSLEDGER_TOKEN}` },
      });
      expect(sets.status).toBe(200);
      const backupId = ((await sets.json()) as { data: { id: string }[] }).data[0]!.id;
      const first = ok(
        await cli([
          'runs',
          'start',
          'restore.execute',
          '--input',
          `backupId=${backupId}`,
          '--input',
          'items=["not-in-the-backup"]',
          '--tenant',
          contoso,
        ]),
      );
      expect(first).toMatch(/^started run [0-9a-f-]{36} \(restore\.execute, (queued|running)\)\n$/);
      failed = runIdIn(first);
    });

    it('watch exits 0 on a succeeded run and 1 on a failed one (finding the tenant by itself)', async () => {
      const good = await cli(['runs', 'watch', synced]);
      expect(good.code, good.stderr).toBe(0);
      expect(good.stdout.trimEnd().split('\n').at(-1)).toMatch(
        new RegExp(`^inventory\\.sync ${synced}: succeeded`),
      );
      const bad = await cli(['runs', 'watch', failed]);
      expect(bad.code, bad.stderr).toBe(1);
      expect(bad.stdout).toMatch(new RegExp(`restore\\.execute ${failed}: failed`));
      expect(bad.stdout).toContain('not_in_backup');
    });

    it('view shows detail and failures; --json gives the run', async () => {
      const view = ok(await cli(['runs', 'view', failed]));
      expect(view).toMatch(/^status +completed, failed$/m);
      expect(view).toMatch(/^attempts +1$/m);
      expect(view).toMatch(/^ {2}not_in_backup: /m);
      const json = JSON.parse(ok(await cli(['runs', 'view', synced, '--json'])));
      expect(json).toMatchObject({ id: synced, type: 'inventory.sync', outcome: 'succeeded' });
    });

    it('list prints a table, takes the filters, and --json gives the runs', async () => {
      const listed = ok(
        await cli(['runs', 'list', '--tenant', contoso, '--outcome', 'failed', '--type', 'restore.execute']),
      );
      const [head, ...rows] = listed.trimEnd().split('\n');
      expect(head).toMatch(/^ID +STATUS +TITLE +TYPE +INITIATOR +DURATION +CREATED$/);
      expect(rows.some((r) => r.startsWith(failed) && /\bfailed\b/.test(r))).toBe(true);
      expect(rows.some((r) => r.startsWith(synced))).toBe(false);
      const json = JSON.parse(ok(await cli(['runs', 'list', '--tenant', contoso, '--limit', '5', '--json'])));
      expect(json).toHaveLength(5);
      expect(json.map((r: { id: string }) => r.id)).toContain(synced);
      // The user belongs to two tenants: which one must be said.
      expect(oneLineError(await cli(['runs', 'list']), 2)).toMatch(/--tenant is required/);
    });

    it('retry starts a new run from a failed one; cancel of a completed run is a one-line 409', async () => {
      const retried = ok(await cli(['runs', 'retry', failed]));
      expect(retried).toMatch(new RegExp(`^started run [0-9a-f-]{36} \\(retry of ${failed}\\)\\n$`));
      const id = runIdIn(retried);
      // The retry names the same missing item, so it fails the same way.
      const watched = await cli(['runs', 'watch', id]);
      expect(watched.code).toBe(1);
      expect(watched.stdout).toMatch(/: failed/);
      expect(oneLineError(await cli(['runs', 'cancel', id]), 1)).toMatch(
        /409 Conflict: the run has already completed/,
      );
    });

    it('errors: one line each; exit 4 refused, 3 not found, 2 bad usage, 1 other problems', async () => {
      const badToken = await runCli(['runs', 'list', '--tenant', contoso], {
        ...client,
        OPSLEDGER_TOKEN: 'olt_nope',
      });
      expect(oneLineError(badToken, 4)).toMatch(
        /^opsledger runs list: 401 Unauthorized: the API token is not valid$/m,
      );
      expect(badToken.stdout).toBe('');
      expect(oneLineError(await cli(['runs', 'view', randomUUID()]), 3)).toMatch(
        /404 Not Found: run not found/,
      );
      // A viewer of the second tenant may not start there.
      expect(
        oneLineError(await cli(['runs', 'start', 'inventory.sync', '--tenant', emptyTenant]), 4),
      ).toMatch(/403 Forbidden/);
      expect(oneLineError(await cli(['runs', 'start', 'no.such', '--tenant', contoso]), 1)).toMatch(
        /400 Bad Request: unknown operation type/,
      );
      oneLineError(await cli(['runs', 'view', 'not-an-id']), 2);
      oneLineError(await cli(['runs', 'start', 'inventory.sync', '--input', 'noequals']), 2);
      oneLineError(await cli(['runs', 'view']), 2);
      oneLineError(await cli(['runs', 'frobnicate']), 2);
      oneLineError(await runCli(['runs', 'list'], {}), 2);
      const refused = await runCli(['runs', 'list', '--tenant', contoso], {
        ...client,
        OPSLEDGER_URL: 'http://127.0.0.1:9',
      });
      expect(oneLineError(refused, 1)).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
      expect(refused.stderr).not.toContain(client.OPSLEDGER_TOKEN!);
    });

    it('help lists the runs and schedules commands', async () => {
      const help = ok(await runCli(['--help'], {}));
      expect(help).toMatch(/^ {2}runs +Commands for runs/m);
      expect(help).toMatch(/^ {2}schedules +Commands for schedules/m);
      const runsHelp = ok(await runCli(['runs', '--help'], {}));
      for (const verb of ['list', 'view', 'start', 'watch', 'cancel', 'retry'])
        expect(runsHelp).toMatch(new RegExp(`^ {2}${verb} +[A-Z]`, 'm'));
      expect(ok(await runCli(['schedules', '--help'], {}))).toMatch(/^ {2}create +Creates a schedule/m);
      expect(ok(await runCli(['runs', 'watch', '--help'], {}))).toContain('Usage: opsledger runs watch ID');
    });
  });

  describe('opsledger schedules', () => {
    it('creates a schedule whose runs appear as initiated by it; pause, list and delete', async () => {
      const created = ok(
        await cli([
          'schedules',
          'create',
          'cli sync',
          '--type',
          'inventory.sync',
          '--cron',
          '*/2 * * * * *',
          '--tenant',
          contoso,
        ]),
      );
      const id = /schedule ([0-9a-f-]{36})/.exec(created)?.[1] ?? '';
      expect(created).toMatch(/"cli sync": inventory\.sync on "\*\/2 \* \* \* \* \*" \(UTC\), active, next /);
      let runs: { initiator: { kind: string; name: string }; outcome: string }[] = [];
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        runs = JSON.parse(
          ok(await cli(['runs', 'list', '--tenant', contoso, '--initiator', 'schedule', '--json'])),
        );
        if (runs.some((r) => r.initiator.name === 'cli sync' && r.outcome === 'succeeded')) break;
      }
      expect(runs.some((r) => r.initiator.name === 'cli sync' && r.outcome === 'succeeded')).toBe(true);
      expect(ok(await cli(['schedules', 'pause', id, '--tenant', contoso]))).toMatch(/, paused$/m);
      const list = ok(await cli(['schedules', 'list', '--tenant', contoso]));
      expect(list).toMatch(/^ID +NAME +TYPE +CRON +TIME ZONE +STATUS +NEXT +LAST RUN$/m);
      expect(list).toMatch(/nightly +inventory\.sync +0 2 \* \* \* +Europe\/Berlin +active/);
      expect(list).toMatch(new RegExp(`^${id} +cli sync .* paused`, 'm'));
      expect(ok(await cli(['schedules', 'delete', id, '--tenant', contoso]))).toBe(
        `deleted schedule ${id}\n`,
      );
      expect(
        oneLineError(
          await cli([
            'schedules',
            'create',
            'x',
            '--type',
            'inventory.sync',
            '--cron',
            'nope',
            '--tenant',
            contoso,
          ]),
          1,
        ),
      ).toMatch(/400 Bad Request: .*cron/);
      oneLineError(await cli(['schedules', 'create', 'x', '--cron', '* * * * *', '--tenant', contoso]), 2);
    });
  });
});
