import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';
import { CORPUS } from './helpers/secret-corpus.ts';
import { testTaskType } from './helpers/test-types.ts';

let ledger: TestLedger;
let tenant: string;

beforeAll(async () => {
  ledger = await startTestLedger({
    definitions: [testTaskType({ started: [], aborted: [] }, { maxAttempts: 1 })],
    env: { TENANT_CONCURRENCY: '8' },
  });
  tenant = await ledger.createTenant('Secrets');
});
afterAll(async () => {
  await ledger?.stop();
});

it(`no secret of a ${CORPUS.length}-message corpus survives in failure_summary, logs or the service's return values`, async () => {
  expect(CORPUS.length).toBeGreaterThanOrEqual(30);
  const started = await Promise.all(
    CORPUS.map(([message], i) =>
      ledger.service.start({
        tenantId: tenant,
        type: 'test.task',
        inputs: { key: `secret-${i}`, failTimes: -1, errorMessage: message },
        initiator: { kind: 'system' },
      }),
    ),
  );
  const finals = [];
  for (const { run } of started)
    finals.push(await ledger.waitForRun(tenant, run.id, (r) => r.status === 'completed'));
  const listed = await ledger.service.list(tenant, { limit: 200 });
  const got = await Promise.all(started.map(({ run }) => ledger.service.get(tenant, run.id)));
  const everything = [
    JSON.stringify(finals.map((f) => f.failure_summary)),
    JSON.stringify(got.map((g) => g.failureSummary)),
    JSON.stringify(listed.data.map((r) => r.failureSummary)),
    ledger.logText(),
  ].join('\n');
  for (const f of finals) {
    expect(f.outcome).toBe('failed');
    expect(f.failure_summary).toHaveLength(1);
  }
  for (const [message, secrets] of CORPUS) {
    for (const secret of secrets) {
      expect({ message, leaked: everything.includes(secret) }).toEqual({ message, leaked: false });
    }
  }
  // The inputs carried the secret too (the error message is an input here): they are redacted
  // before the run row is written, so not even context keeps it.
  const contexts = JSON.stringify(finals.map((f) => f.context));
  for (const [, secrets] of CORPUS)
    for (const secret of secrets) expect(contexts.includes(secret)).toBe(false);
});
