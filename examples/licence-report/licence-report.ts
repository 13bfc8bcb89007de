import { createOpsledger, createTenant, defineOperationType, loadConfig, Type } from 'opsledger';

/** Stands in for the suite's own paging through Graph: the licensed users of a month, page by page. */
async function loadPages(month: string, signal: AbortSignal): Promise<string[][]> {
  signal.throwIfAborted();
  return [[`${month}/ada`, `${month}/grace`], [`${month}/linus`]];
}

// The handler's `inputs` are typed from inputSchema: `inputs.month` is a string.
export const licenceReport = defineOperationType({
  name: 'licences.report',
  label: 'Licence report',
  inputSchema: Type.Object({ month: Type.String({ pattern: '^\\d{4}-\\d{2}$' }) }),
  identityKeys: ['month'], // one active run per tenant and month
  countKeys: ['users', 'failed'], // the only counters a run may report
  timeoutSeconds: 600,
  maxAttempts: 3, // retries keep the same run; attempts grows
  async handler({ inputs, signal, progress }) {
    let users = 0;
    for (const page of await loadPages(inputs.month, signal)) {
      // stop when signal fires (cancel)
      users += page.length;
      await progress({ users });
    }
    return { counts: { users } }; // or { outcome: 'partially_succeeded', failures: [...] }
  },
});

// Without DATABASE_URL the ledger runs on an embedded database in DATA_DIR (default ./.data).
const ledger = await createOpsledger({ config: loadConfig(), definitions: [licenceReport], worker: true });
const tenantId = await createTenant(ledger, { name: 'Contoso' });
const { run, created } = await ledger.service.start({
  tenantId,
  type: 'licences.report',
  inputs: { month: '2026-11' },
  initiator: { kind: 'api', name: 'licence job' },
});
// created === false when an identical run was already queued or running: that run is returned.
let current = run;
while (current.status !== 'completed') {
  await new Promise((resolve) => setTimeout(resolve, 100));
  current = await ledger.service.get(tenantId, run.id);
}
console.log(
  `${current.type} ${current.id}: ${current.outcome}, users=${current.summaryCounts.users}, created=${created}`,
);
await ledger.close();
