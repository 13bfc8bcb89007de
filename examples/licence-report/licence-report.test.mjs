// A suite developer's test of an operation type, in plain JavaScript: the real ledger (queue and
// worker included) on an embedded database held in memory.
import assert from 'node:assert/strict';
import { Type } from 'opsledger';
import { startTestLedger } from 'opsledger/testing';

const licenceReport = {
  name: 'licences.report',
  label: 'Licence report',
  inputSchema: Type.Object({ month: Type.String({ pattern: '^\\d{4}-\\d{2}$' }) }),
  identityKeys: ['month'],
  countKeys: ['users', 'failed'],
  timeoutSeconds: 600,
  maxAttempts: 1,
  async handler({ inputs, progress }) {
    const users = inputs.month === '2026-11' ? 3 : 0;
    await progress({ users });
    return { counts: { users } };
  },
};

const ledger = await startTestLedger({ definitions: [licenceReport] });
try {
  const tenantId = await ledger.createTenant('Contoso');
  const run = await ledger.startAndWait({ tenantId, type: 'licences.report', inputs: { month: '2026-11' } });
  assert.equal(run.outcome, 'succeeded');
  assert.deepEqual(run.summaryCounts, { users: 3, failed: 0 });
  // Inputs are checked against the schema before anything is queued.
  await assert.rejects(
    ledger.service.start({
      tenantId,
      type: 'licences.report',
      inputs: { month: 'May' },
      initiator: { kind: 'system' },
    }),
    /inputs do not match/,
  );
  console.log(`${run.type} ${run.id}: ${run.outcome}, users=${run.summaryCounts.users}`);
} finally {
  await ledger.stop();
}
