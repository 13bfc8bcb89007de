// Opsledger benchmark (issue 11): the ledger against PostgreSQL's own limit, bare pg-boss and a bare
// Fastify + pg server, through HTTP, at a million (--quick) or ten million runs.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- --quick --json
//
// With DATABASE_URL it creates a database of its own on that server (dropped at the end) and runs
// every phase; without it, only the embedded phase. Progress goes to stderr; stdout gets the
// summary and, with --json, one JSON object as its last line. Phases and what they measure:
// bench/generate.ts, bench/api.ts, bench/prune.ts, bench/lifecycle-core.ts, bench/noisy.ts,
// bench/embedded.ts, bench/cli.ts (the command line's time to first output for `runs list`).
import { parseArgs } from 'node:util';
import { cliPhase } from './cli.ts';
import { type EmbeddedResult, embeddedPhase } from './embedded.ts';
import { FULL_PLAN, planFor, QUICK_PLAN } from './generate.ts';
import { log, machine } from './lib.ts';
import { noisyPhase } from './noisy.ts';
import { type PostgresResult, postgresPhase } from './postgres.ts';
import { summarize, targets } from './report.ts';
import { type RollupResult, rollupPhase } from './rollup.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    /** Live rows on PostgreSQL instead of the preset's (a tenth in the large tenant, a fifth more expired). */
    rows: { type: 'string' },
    /** Seconds per autocannon measurement, and rounds of each. */
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    'lifecycle-runs': { type: 'string' },
    'embedded-rows': { type: 'string' },
    /** Runs of the noisy neighbour's tenant (issue 19); 0 skips the case. */
    'noisy-runs': { type: 'string' },
    /** Runs of the daily-rollup tenant (PostgreSQL; bench/rollup.ts); 0 skips the case. */
    'rollup-runs': { type: 'string' },
    /** Only the noisy-neighbour case (PostgreSQL), for its figure alone. */
    'noisy-only': { type: 'boolean', default: false },
    'skip-embedded': { type: 'boolean', default: false },
    'skip-postgres': { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
const rows = values.rows === undefined ? null : Number(values.rows);
const plan = rows === null ? (quick ? QUICK_PLAN : FULL_PLAN) : planFor(rows, Math.round(rows / 5));
const seconds = num(values.seconds, quick ? 2 : 5);
const rounds = num(values.rounds, quick ? 1 : 3);
const lifecycleRuns = num(values['lifecycle-runs'], quick ? 500 : 1000);
const embeddedRows = num(values['embedded-rows'], 100_000);

const started = performance.now();
const at = machine();
log(
  `${quick ? 'quick' : 'full'} run on ${at.cores} cores (${at.cpu}), ${at.memoryGb} GB, load average ${at.loadAverage.join(' ')}, node ${at.node}`,
);

const adminUrl = process.env.DATABASE_URL?.trim() || null;
if (values['noisy-only']) {
  if (!adminUrl) throw new Error('--noisy-only needs DATABASE_URL');
  const n = await noisyPhase(adminUrl, { runs: num(values['noisy-runs'], 300_000), seconds, rounds });
  console.log(
    `\nnoisy neighbour: another tenant's list p95 ${n.idle.p95} ms idle, ${n.loaded.p95} ms beside 24 parallel 30-day stats of a ${n.largeRuns.toLocaleString('en')}-run tenant: ratio ${n.ratio} (target ≤ 2); stats answered ${n.noisyOk}, refused ${n.noisyRefused}`,
  );
  if (values.json) console.log(JSON.stringify({ noisyNeighbour: n }));
  process.exit(0);
}
let pg: PostgresResult | null = null;
if (adminUrl && !values['skip-postgres']) {
  pg = await postgresPhase(adminUrl, {
    plan,
    seconds,
    rounds,
    largeConnections: quick ? [10] : [10, 50],
    lifecycleRuns,
    lifecycleRounds: rounds,
    noisyRuns: num(values['noisy-runs'], 300_000),
  });
} else if (!adminUrl) {
  log('no DATABASE_URL: PostgreSQL phases skipped, embedded only');
}
let rollup: RollupResult | null = null;
const rollupRuns = num(values['rollup-runs'], 300_000);
if (adminUrl && !values['skip-postgres'] && rollupRuns > 0) rollup = await rollupPhase(adminUrl, rollupRuns);
let embedded: EmbeddedResult | null = null;
if (!values['skip-embedded']) embedded = await embeddedPhase(embeddedRows, seconds, rounds);
const cli = await cliPhase(quick ? 5 : 9);

const result = summarize(pg, embedded, {
  quick,
  node: process.version,
  cores: at.cores,
  memoryGb: at.memoryGb,
  loadAverageAtStart: at.loadAverage,
  loadAverageAtEnd: machine().loadAverage,
  wallSeconds: Math.round((performance.now() - started) / 1000),
});
Object.assign(result, {
  cliRunsListFirstOutputMs: cli.cliRunsListFirstOutputMs,
  cliRunsListExitMs: cli.cliRunsListExitMs,
  cliVersionMs: cli.cliVersionMs,
  ...(rollup ?? {}),
  cliRunsListFirstOutputFromSourcesMs: cli.cliRunsListFirstOutputFromSourcesMs,
  cliVersionFromSourcesMs: cli.cliVersionFromSourcesMs,
});
const r = result as Record<string, any>;
console.log(`\nOpsledger benchmark, ${quick ? 'quick' : 'full'} (${new Date().toISOString()})`);
console.log(
  `  node ${r.node}, PostgreSQL ${r.postgres ?? '—'}, ${r.cores} cores, ${r.memoryGb} GB, load ${r.loadAverageAtStart.join(' ')} → ${r.loadAverageAtEnd.join(' ')}, ${r.wallSeconds} s`,
);
for (const [k, v] of Object.entries(result)) {
  if (k === 'detail' || typeof v === 'object' || v === undefined) continue;
  if (['quick', 'node', 'postgres', 'cores', 'memoryGb', 'wallSeconds'].includes(k)) continue;
  console.log(`  ${k.padEnd(28)} ${typeof v === 'number' ? v.toLocaleString('en') : v}`);
}
console.log('\nTargets (issue 11)');
console.log(targets(r));
if (rollup) {
  console.log(
    `\ndaily rollup on a ${rollup.rollupRuns.toLocaleString('en')}-run tenant: ${rollup.rollupExact ? 'equal to the runs after the load, bulk transitions, pruning and a rebuild' : 'DIFFERENT from the runs (see the log above)'}`,
  );
}
if (values.json) console.log(JSON.stringify(result));
// A rollup that disagrees with the runs is a wrong answer, not a slow one: the benchmark fails.
process.exit(rollup && !rollup.rollupExact ? 1 : 0);
