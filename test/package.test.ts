import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';

/**
 * The ledger as an installable package: `npm pack`, then a plain `npm install` of the tarball in a
 * new project outside this repository, where a TypeScript program (checked by tsc) and a plain
 * JavaScript test register their own operation type and see it succeed, and `npx opsledger` runs.
 * What it checks is the package, not a database, so it runs in one pass: the embedded-database
 * pass, the one `npm test` makes on any machine (the library on PostgreSQL is what the rest of the
 * suite runs in its PostgreSQL pass). Dependencies come from the npm cache (--prefer-offline) or the
 * registry, nothing else.
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const EMBEDDED = !process.env.DATABASE_URL;
console.log(
  EMBEDDED
    ? 'package test (npm pack, install, run): running in the embedded-database pass'
    : 'package test (npm pack, install, run): not in this pass; it runs in the embedded-database pass',
);
const EXAMPLES = path.join(ROOT, 'examples/licence-report');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-pack-'));
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

type Result = { code: number | null; stdout: string; stderr: string };

function run(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const ok = (r: Result, what: string) => {
  expect(r.code, `${what}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
};

const version = (name: string) =>
  JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8'))
    .version as string;

it.runIf(EMBEDDED)(
  'packs, installs into a new project, type-checks and runs its own operation type there',
  {
    timeout: 420_000,
  },
  async () => {
    const t0 = Date.now();
    // What `npm pack` makes: prepack compiles src/ to dist/ and cleans the manifest (clean-package:
    // no scripts, no devDependencies), postpack restores it. Here the same steps run on a staged
    // copy, so the repository's package.json is never changed under the other tests, and without
    // `prepare`, which would rebuild web/dist under the browser tests that serve it meanwhile.
    ok(await run('npm', ['run', 'build'], ROOT), 'npm run build');
    const stage = path.join(tmp, 'stage');
    fs.mkdirSync(stage);
    for (const entry of ['package.json', 'README.md', 'LICENSE', 'dist', 'bin', 'migrations', 'docs']) {
      if (fs.existsSync(path.join(ROOT, entry)))
        fs.cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true });
    }
    ok(
      await run(process.execPath, [path.join(ROOT, 'node_modules/clean-package/bin/main.js')], stage),
      'clean-package',
    );
    const packed = JSON.parse(
      ok(
        await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], stage),
        'npm pack',
      ),
    );
    const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
    expect(files).toContain('dist/main/index.js');
    expect(files).toContain('dist/main/index.d.ts');
    expect(files).toContain('dist/main/testing.js');
    expect(files).toContain('migrations/0001_ledger.sql');
    expect(files).toContain('bin/opsledger.js');
    // Sources, tests and the web workspace stay home.
    expect(files.filter((f) => /^(src|test|web|bench)\//.test(f) || f.endsWith('.ts.map'))).toEqual([]);
    expect(files).toContain('LICENSE');
    expect(files.filter((f) => f.endsWith('.backup'))).toEqual([]);

    const project = path.join(tmp, 'consumer');
    fs.mkdirSync(project);
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        type: 'module',
        dependencies: { opsledger: `file:../${packed[0].filename}` },
        devDependencies: { typescript: version('typescript'), '@types/node': version('@types/node') },
      }),
    );
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2024',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          erasableSyntaxOnly: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          types: ['node'],
        },
        include: ['*.ts'],
      }),
    );
    for (const f of fs.readdirSync(EXAMPLES)) fs.copyFileSync(path.join(EXAMPLES, f), path.join(project, f));
    const installed = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], project);
    ok(installed, 'npm install');
    // The installed manifest carries no development scripts: npm has no install script to warn of.
    expect(installed.stderr).not.toMatch(/install-scripts|prepare/);
    const manifest = JSON.parse(
      fs.readFileSync(path.join(project, 'node_modules/opsledger/package.json'), 'utf8'),
    );
    expect(Object.keys(manifest).filter((k) => /scripts|devDependencies|workspaces/i.test(k))).toEqual([]);
    expect(manifest.bin).toEqual({ opsledger: 'bin/opsledger.js' });
    expect(fs.existsSync(path.join(project, 'node_modules/opsledger/src'))).toBe(false);

    ok(await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], project), 'tsc');

    const env: Record<string, string> = { DATA_DIR: path.join(project, '.data') };
    const ts = ok(await run(process.execPath, ['licence-report.ts'], project, env), 'licence-report.ts');
    expect(ts).toMatch(/^licences\.report [0-9a-f-]{36}: succeeded, users=3, created=true\n$/);
    const js = ok(
      await run(process.execPath, ['licence-report.test.mjs'], project),
      'licence-report.test.mjs',
    );
    expect(js).toMatch(/^licences\.report [0-9a-f-]{36}: succeeded, users=3\n$/);

    const help = ok(
      await run('npx', ['--no-install', 'opsledger', '--help'], project),
      'npx opsledger --help',
    );
    expect(help).toMatch(/^ {2}runs +Commands for runs/m);
    // The installed command runs from dist/ and finds the packaged migrations.
    const migrated = ok(
      await run('npx', ['--no-install', 'opsledger', 'migrate'], project, {
        DATA_DIR: path.join(project, '.cli'),
      }),
      'npx opsledger migrate',
    );
    expect(migrated).toMatch(/^applied \d+ migration\(s\): 0001_ledger, /);
    const runsHelp = ok(
      await run('npx', ['--no-install', 'opsledger', 'runs', 'list', '--help'], project),
      'runs --help',
    );
    expect(runsHelp).toContain('Usage: opsledger runs list');
    console.log(`[package] packed, installed and ran in ${Math.round((Date.now() - t0) / 1000)}s`);
  },
);

it("the README's library example is the example the package test runs", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const example = fs.readFileSync(path.join(EXAMPLES, 'licence-report.ts'), 'utf8');
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});
