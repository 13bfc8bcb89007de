// The server the benchmark measures, in a process of its own so its resident memory is its own:
// what `serve` runs (the HTTP app with the suite's routes, an in-process worker, the suite's
// operation types) plus the benchmark's no-op type, with the per-caller request budgets lifted
// (the benchmark means to exceed them) and, unless BENCH_PRODUCT_EXPENSIVE_READS is set, the
// per-tenant limit on expensive reads. Configured from the environment like `serve`; prints
// {"url"} once listening. SIGUSR2 runs a full collection and answers {"gc":true}; SIGTERM stops.

import { loadConfig } from '../src/main/config.ts';
import { createHttpServer } from '../src/main/http.ts';
import { createOpsledger } from '../src/main/opsledger.ts';
import { shutdown } from '../src/main/shutdown.ts';
import { builtinOperationTypes } from '../src/main/suite.ts';
import { createLogger } from '../src/shared/logger.ts';
import { noopType } from './noop-type.ts';

let stop: () => void = () => {};
const stopped = new Promise<void>((resolve) => {
  stop = resolve;
});
process.once('SIGTERM', () => stop());

const config = loadConfig();
const ledger = await createOpsledger({
  config,
  definitions: async (deps) => [...(await builtinOperationTypes(deps)), noopType],
  logger: createLogger({ level: config.logLevel, destination: process.stderr as never }),
  worker: true,
});
const app = await createHttpServer(ledger, {
  limits: {
    requestsPerMinute: 10_000_000,
    startsPerMinute: 10_000_000,
    // Lifted too, except for the noisy-neighbour case, which measures the product's limit.
    ...(process.env.BENCH_PRODUCT_EXPENSIVE_READS ? {} : { expensiveReadsPerTenant: 10_000_000 }),
  },
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(`${JSON.stringify({ gc: true })}\n`);
});
await stopped;
await shutdown({ ledger, app, graceMs: 5000 });
process.exit(0);
