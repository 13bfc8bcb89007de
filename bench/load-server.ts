// The server side of the load benchmark: a ledger with a worker and the HTTP app, 50 tenants with
// an operator each, a run type that takes a few milliseconds. Prints the URL and the tokens.
import { tenantRepository } from '../src/access/tenants.ts';
import { loadConfig } from '../src/main/config.ts';
import { createHttpServer } from '../src/main/http.ts';
import { createOpsledger } from '../src/main/opsledger.ts';
import { shutdown } from '../src/main/shutdown.ts';
import { createLogger } from '../src/shared/logger.ts';
import { noopType } from './noop-type.ts';

const TENANTS = 50;
let stop: () => void = () => {};
const stopped = new Promise<void>((resolve) => {
  stop = resolve;
});
process.once('SIGTERM', () => stop());

const config = loadConfig();
const ledger = await createOpsledger({
  config,
  definitions: [noopType],
  logger: createLogger({ level: 'warn', destination: process.stderr as never }),
  worker: true,
});
// Production limits except the per-caller budgets, which the benchmark means to exceed.
const app = await createHttpServer(ledger, {
  suite: false,
  limits: { requestsPerMinute: 10_000_000, startsPerMinute: 10_000_000, streams: { perTenant: 64 } },
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
const tenants: { id: string; token: string }[] = [];
for (let i = 0; i < TENANTS; i++) {
  const t = await ledger.database.systemTx((trx) => tenantRepository.create(trx, { name: `Load ${i}` }));
  const user = await app.opsledger.access.createUser({
    email: `load-${i}@bench.test`,
    password: `bench-operator-pass-${i}`,
  });
  await app.opsledger.access.addMember(t.id, user.email, 'operator');
  const { secret } = await app.opsledger.credentials.createToken(user.id, 'load');
  tenants.push({ id: t.id, token: secret });
}
process.stdout.write(`${JSON.stringify({ url, tenants })}\n`);
// The benchmark asks for the heap that survives a full collection: what is retained, not garbage.
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(`${JSON.stringify({ retainedHeap: process.memoryUsage().heapUsed })}\n`);
});
await stopped;
await shutdown({ ledger, app, graceMs: 5000 });
process.exit(0);
