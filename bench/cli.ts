// The command line's time to first output: `opsledger runs list` against a real server, as a user
// types it (a new node process each time). The API-client commands load only the HTTP client, so
// this is node's own start plus one or two requests. Measured side by side in two forms: as the
// package installs it (the JavaScript compiled into dist/, what `npx opsledger` runs in a project),
// and from this repository's TypeScript sources (Node strips the types of every file it loads).
//
//   npm run bench:cli            (also part of `npm run bench`)
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/main/config.ts';
import { createHttpServer } from '../src/main/http.ts';
import { createOpsledger } from '../src/main/opsledger.ts';
import { BENCH_SECRET_KEY } from './fixtures.ts';
import { log } from './lib.ts';

export type CliResult = {
  /** Median milliseconds from spawning `opsledger runs list` (installed form) to its first byte on stdout. */
  cliRunsListFirstOutputMs: number;
  /** Median milliseconds from spawning it to its exit. */
  cliRunsListExitMs: number;
  /** Median milliseconds for `opsledger --version` (node's start and the argument parser). */
  cliVersionMs: number;
  /** The same first output from the repository's TypeScript sources. */
  cliRunsListFirstOutputFromSourcesMs: number;
  cliVersionFromSourcesMs: number;
  samples: number;
};

const ROOT = path.resolve(import.meta.dirname, '..');
const FROM_SOURCES = path.join(ROOT, 'bin/opsledger.js');
const INSTALLED = path.join(ROOT, 'dist/cli/main.js');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

function timeCommand(
  entry: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ first: number; exit: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = 0;
    const child = spawn(process.execPath, [entry, ...args], {
      env: { ...process.env, DATABASE_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stdout.once('data', () => {
      first = performance.now() - t0;
    });
    child.stdout.resume();
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`opsledger ${args.join(' ')} exited ${code}: ${err}`));
      resolve({ first: Math.round(first), exit: Math.round(performance.now() - t0) });
    });
  });
}

export async function cliPhase(samples = 7): Promise<CliResult> {
  log(
    `cli: compiling dist/ (npm run build), then ${samples} × opsledger runs list against an embedded server`,
  );
  await new Promise<void>((resolve, reject) =>
    spawn('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' }).on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`npm run build exited ${code}`)),
    ),
  );
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-bench-cli-'));
  const config = loadConfig({ DATA_DIR: dataDir, SECRET_KEY: BENCH_SECRET_KEY, LOG_LEVEL: 'warn' });
  const { builtinOperationTypes } = await import('../src/main/suite.ts');
  const ledger = await createOpsledger({ config, definitions: builtinOperationTypes, worker: false });
  const app = await createHttpServer(ledger);
  try {
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const tenant = await ledger.access.createTenant('Bench CLI');
    await ledger.access.createUser({ email: 'cli@bench.test', password: 'bench cli passphrase' });
    await ledger.access.addMember(tenant.id, 'cli@bench.test', 'operator');
    const { secret } = await ledger.access.createToken('cli@bench.test', 'bench');
    // A page of queued runs to list (no worker: they stay queued).
    // Each against a baseline of its own (drift.generate refuses an unknown one at the door).
    const { backupRepository } = await import('../src/suite/backup/repository.ts');
    for (let i = 0; i < 20; i++) {
      const baselineId = randomUUID();
      await ledger.database.tenantTx(tenant.id, (trx) =>
        backupRepository.createSet(
          trx,
          tenant.id,
          { id: baselineId, name: `Bench baseline ${i}`, scope: ['compliancePolicies'], runId: null },
          [],
        ),
      );
      await ledger.service.start({
        tenantId: tenant.id,
        type: 'drift.generate',
        inputs: { baselineId },
        initiator: { kind: 'api', name: 'bench' },
      });
    }
    const env = { OPSLEDGER_URL: url, OPSLEDGER_TOKEN: secret };
    // Warm the file cache for both forms.
    await timeCommand(INSTALLED, ['runs', 'list'], env);
    await timeCommand(FROM_SOURCES, ['runs', 'list'], env);
    const list: { first: number; exit: number }[] = [];
    const version: number[] = [];
    const sourceList: number[] = [];
    const sourceVersion: number[] = [];
    // Interleaved, so both forms meet the same moments of a busy machine.
    for (let i = 0; i < samples; i++) {
      list.push(await timeCommand(INSTALLED, ['runs', 'list'], env));
      sourceList.push((await timeCommand(FROM_SOURCES, ['runs', 'list'], env)).first);
      version.push((await timeCommand(INSTALLED, ['--version'], {})).exit);
      sourceVersion.push((await timeCommand(FROM_SOURCES, ['--version'], {})).exit);
    }
    const result = {
      cliRunsListFirstOutputMs: median(list.map((s) => s.first)),
      cliRunsListExitMs: median(list.map((s) => s.exit)),
      cliVersionMs: median(version),
      cliRunsListFirstOutputFromSourcesMs: median(sourceList),
      cliVersionFromSourcesMs: median(sourceVersion),
      samples,
    };
    log(
      `cli (installed form): runs list first output ${result.cliRunsListFirstOutputMs} ms, exit ${result.cliRunsListExitMs} ms; --version ${result.cliVersionMs} ms (medians)`,
    );
    log(
      `cli (from sources): runs list first output ${result.cliRunsListFirstOutputFromSourcesMs} ms; --version ${result.cliVersionFromSourcesMs} ms (medians)`,
    );
    return result;
  } finally {
    await app.close();
    await ledger.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const result = await cliPhase();
  console.log(JSON.stringify(result));
  process.exit(0);
}
