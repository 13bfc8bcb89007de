import { sql } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HttpApp } from '../src/http/app.ts';
import { CHANGE_CHANNEL } from '../src/ledger/change-feed.ts';
import { openSealed } from '../src/ledger/feed-seal.ts';
import { createHttpServer } from '../src/main/http.ts';
import { externalWriter, WRITER_ROLE } from './helpers/external-writer.ts';
import { CORPUS } from './helpers/secret-corpus.ts';
import { until } from './helpers/sse.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';
import { describeTarget, onPostgres } from './helpers/target.ts';

/**
 * Restore records another application writes by plain SQL, under its own role, carry every secret
 * form of the corpus in their error text. The mirror runs inside the database; what it stores in
 * operation_runs, what the change feed sends and what any API answers hold none of them.
 */

let ledger: SuiteLedger;
let app: HttpApp;
let tenant: string;
let auth: Record<string, string>;
const notices: string[] = [];
let unlisten: () => Promise<void> = async () => {};

beforeAll(async () => {
  console.log(
    `[redaction-at-rest] ${describeTarget()}: the writer is ${
      onPostgres()
        ? `its own connection under role ${WRITER_ROLE}`
        : `the raw embedded connection under role ${WRITER_ROLE}`
    }`,
  );
  ledger = await startSuiteLedger({ worker: false });
  app = await createHttpServer(ledger, { suite: true });
  await app.ready();
  tenant = await ledger.createTenant('At rest');
  const user = await app.opsledger.access.createUser({
    email: `at-rest-${process.pid}@example.test`,
    password: 'a long enough password',
    displayName: 'Viewer',
  });
  await app.opsledger.access.addMember(tenant, user.email, 'viewer');
  const { secret } = await app.opsledger.credentials.createToken(user.id, 'at rest');
  auth = { authorization: `Bearer ${secret}` };
  unlisten = await ledger.database.listen(CHANGE_CHANNEL, (p) => notices.push(p));
});

afterAll(async () => {
  await unlisten();
  await app?.close();
  await ledger?.stop();
});

const jsonEscaped = (s: string) => JSON.stringify(s).slice(1, -1);

it('no secret of the corpus, written in restore records by another application, is stored, announced or answered', async () => {
  const writer = await externalWriter(ledger);
  const ids: string[] = [];
  try {
    for (const [message] of CORPUS) {
      const id = uuidv7();
      ids.push(id);
      await writer.tx(
        async (q) => {
          await q(
            `insert into restore_runs (id, tenant_id, backup_set_id, status, initiator_kind, initiator_name)
             values ($1, $2, $3, 'running', 'system', 'another application')`,
            [id, tenant, uuidv7()],
          );
          await q(
            `insert into restore_run_items (tenant_id, restore_run_id, family, external_id, result, error_code, error_message)
             values ($1, $2, 'deviceConfigurations', 'item-1', 'failed', 'graph_error', $3)`,
            [tenant, id, message],
          );
          await q(
            `update restore_runs set status = 'failed', error_code = 'restore_failed', error_message = $3, completed_at = now()
             where tenant_id = $1 and id = $2`,
            [tenant, id, message],
          );
        },
        { role: WRITER_ROLE },
      );
    }
  } finally {
    await writer.close();
  }
  const { rows: stored } = await sql<{ run: string }>`
    select to_jsonb(r)::text as run from operation_runs r
    where tenant_id = ${tenant} and source_type = 'restore_run'`.execute(ledger.database.db);
  expect(stored).toHaveLength(CORPUS.length);
  // Every record's failure reached its mirror (redacted, not dropped).
  for (const s of stored) expect(s.run).toContain('restore_failed');

  // What the API answers: the operations list, each run, the restore records and each of them.
  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url, headers: auth });
    expect(res.statusCode).toBe(200);
    return res.body;
  };
  const base = `/api/v1/tenants/${tenant}`;
  const list = await get(`${base}/operations?type=restore.execute&limit=200`);
  const runIds = (JSON.parse(list) as { data: { id: string }[] }).data.map((r) => r.id);
  expect(runIds).toHaveLength(CORPUS.length);
  const answers = [list];
  let cursor: string | null = null;
  do {
    const page = await get(`${base}/restore-runs${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`);
    answers.push(page);
    cursor = (JSON.parse(page) as { nextCursor: string | null }).nextCursor;
  } while (cursor);
  for (const id of runIds) answers.push(await get(`${base}/operations/${id}`));
  for (const id of ids) answers.push(await get(`${base}/restore-runs/${id}`));

  // What the change feed sent, as sent and as the servers open it.
  await until(() => notices.length >= CORPUS.length * 2, 30_000, 'the notices of every record');
  const { rows } = await sql<{ key: Uint8Array }>`select key from change_feed_key`.execute(
    ledger.database.db,
  );
  const key = Buffer.from(rows[0]!.key);
  const opened = notices.map((n) => openSealed(key, n));
  expect(opened.every((o) => o !== null)).toBe(true);

  const places: Record<string, string> = {
    operation_runs: stored.map((s) => s.run).join('\n'),
    'feed as sent': notices.join('\n'),
    'feed as opened': opened.join('\n'),
    'API responses': answers.join('\n'),
  };
  expect(places['feed as opened']).toContain('restore_failed');
  for (const [message, secrets] of CORPUS) {
    for (const secret of secrets) {
      for (const [where, text] of Object.entries(places)) {
        const leaked = text.includes(secret) || text.includes(jsonEscaped(secret));
        expect({ message, where, leaked }).toEqual({ message, where, leaked: false });
      }
    }
  }
});

it('rows stored in clear before the redaction landed are redacted by the migration’s own function', async () => {
  // The migration redacts existing rows with opsledger_bound_failures; an old row in clear is
  // exactly what it rewrites.
  const secret = 'Password=Az$qlPw0rdOld';
  const { rows } = await sql<{ f: { code: string; message: string }[] }>`
    select opsledger_bound_failures(${JSON.stringify([{ code: 'old', message: `Server=x;${secret};` }])}::jsonb) as f`.execute(
    ledger.database.db,
  );
  expect(rows[0]!.f).toEqual([{ code: 'old', message: 'Server=x;Password=[REDACTED];' }]);
});
