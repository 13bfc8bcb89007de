// How fast the Graph client pages through 20,000 policies of the built-in simulator (200 pages of
// 100) over real HTTP: the speed check the test suite does not make (it asserts completeness only).
//
//   npm run bench:graph            (prints a summary line, then one JSON object as its last line)
//
// Target: under 5 s on an idle machine of the reference kind (docs/BENCHMARKS.md).
import { randomUUID } from 'node:crypto';
import { GraphClient } from '../src/graph/client.ts';
import { createGraphSimulator } from '../src/graph/simulator.ts';
import { machine } from './lib.ts';

const POLICIES = 20_000;
const ROUNDS = 3;
const sim = createGraphSimulator({ seed: 5 });
await sim.start();
try {
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const dir = randomUUID();
    sim.registerTenant(dir, {
      clientId: 'app-1',
      clientSecret: 'secret-value-1234',
      policyCounts: { settingsCatalog: POLICIES },
    });
    const client = new GraphClient({
      baseUrl: sim.url,
      directoryId: dir,
      clientId: 'app-1',
      clientSecret: 'secret-value-1234',
    });
    let pages = 0;
    const started = performance.now();
    const items = await client.listAll<{ id: string }>('/deviceManagement/configurationPolicies', {
      onPage: () => {
        pages++;
      },
    });
    times.push(performance.now() - started);
    if (items.length !== POLICIES || pages !== 200)
      throw new Error(`listed ${items.length} in ${pages} pages`);
  }
  times.sort((a, b) => a - b);
  const median = Math.round(times[Math.floor(times.length / 2)]!);
  const at = machine();
  console.log(
    `graph listing: ${POLICIES} policies in 200 pages, median ${median} ms of ${ROUNDS} (target < 5000 ms); load average ${at.loadAverage.join(' ')}`,
  );
  console.log(
    JSON.stringify({
      policies: POLICIES,
      pages: 200,
      rounds: ROUNDS,
      medianMs: median,
      targetMs: 5000,
      machine: at,
    }),
  );
} finally {
  await sim.stop();
}
