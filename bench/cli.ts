// The command line's time to first output: `opsledger runs list` against a real server, as a user
// types it (a new node process each time). The API-client commands load only the HTTP client
// (issue 23), so this is node's own start plus one or two requests.
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
  /** Median milliseconds from spawning `opsledger runs list` to its first byte on stdout. */
  cliRunsListFirstOutputMs: number;
  /** Median milliseconds from spawning it to its exit. */
  cliRunsListExitMs: number;
  /** Median milliseconds for `opsledger --version` (node's start and the argument parser). */
  cliVersionMs: number;
  samples: number;
};

const BIN = path.resolve(import.meta.dirname, '../bin/opsledger.js');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

function timeCommand(args: string[], env: Record<string, string>): Promise<{ first: number; exit: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = 0;
    const child = spawn(process.execPath, [BIN, ...args], {
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
  log(`cli: ${samples} × opsledger runs list against an embedded server`);
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
    await timeCommand(['runs', 'list'], env); // warm the file cache
    const list: { first: number; exit: number }[] = [];
    const version: number[] = [];
    for (let i = 0; i < samples; i++) {
      list.push(await timeCommand(['runs', 'list'], env));
      version.push((await timeCommand(['--version'], {})).exit);
    }
    const result = {
      cliRunsListFirstOutputMs: median(list.map((s) => s.first)),
      cliRunsListExitMs: median(list.map((s) => s.exit)),
      cliVersionMs: median(version),
      samples,
    };
    log(
      `cli: runs list first output ${result.cliRunsListFirstOutputMs} ms, exit ${result.cliRunsListExitMs} ms; --version ${result.cliVersionMs} ms (medians)`,
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
