// Lifecycle throughput on its own (bench/lifecycle-core.ts explains the three contenders); `npm run
// bench` runs the same measurement among its phases.
// Usage: DATABASE_URL=postgres://… node bench/lifecycle.ts [--runs N] [--rounds N] [--json]
import { parseArgs } from 'node:util';
import { lifecycleRounds } from './lifecycle-core.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean' },
  },
});
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  console.error(
    'bench/lifecycle: set DATABASE_URL to a PostgreSQL server (it creates and drops its own databases)',
  );
  process.exit(2);
}
const result = await lifecycleRounds(adminUrl, Number(values.runs), Number(values.rounds));
console.log(
  `lifecycle, ${result.runs} runs across ${result.tenants} tenants (medians of ${result.rounds} interleaved rounds): ` +
    `ledger ${result.lifecyclePerSec}/s, bare pg-boss ${result.pgBossJobsPerSec}/s, raw SQL ${result.rawSqlLifecyclePerSec}/s; ` +
    `ledger = ${(result.lifecyclePerSec / result.rawSqlLifecyclePerSec).toFixed(2)}× raw SQL, ` +
    `${(result.lifecyclePerSec / result.pgBossJobsPerSec).toFixed(2)}× pg-boss`,
);
if (values.json) console.log(JSON.stringify(result));
process.exit(0);
