import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { notifyChannelSql } from 'pg-boss/dist/plans.js';
import { uuidv7 } from 'uuidv7';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ACCESS_CHANNEL } from '../src/access/access-changes.ts';
import { CHANGE_CHANNEL, type RunChange } from '../src/ledger/change-feed.ts';
import { EVENT_CHANNEL } from '../src/ledger/event-log-feed.ts';
import { openSealed } from '../src/ledger/feed-seal.ts';
import { BOSS_SCHEMA } from '../src/worker/boss-queue.ts';
import { externalWriter } from './helpers/external-writer.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger.ts';
import { until } from './helpers/sse.ts';
import { describeTarget, onPostgres } from './helpers/target.ts';
import { testTaskType } from './helpers/test-types.ts';

/**
 * What the product sends on the database's notification channels, as a login with no grant at all
 * receives it (PostgreSQL; on the embedded database, which has one login, what is sent on them):
 * nothing that names a tenant, an input, an initiator or a failure.
 */

const LISTENER_ROLE = `opsledger_test_listener_${process.pid}`;
let ledger: TestLedger;
let tenantA: string;
let tenantB: string;
const received: { channel: string; payload: string }[] = [];
const fed: RunChange[] = [];
let stopListening: () => Promise<void> = async () => {};

/** Every channel the product notifies or listens on, from the code itself. */
function channelsInCode(): { literal: Set<string>; listenCalls: string[] } {
  const literal = new Set<string>();
  const listenCalls: string[] = [];
  const walk = (dir: string, ext: string, visit: (file: string) => void) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p, ext, visit);
      else if (e.name.endsWith(ext)) visit(p);
    }
  };
  walk('migrations', '.sql', (f) => {
    if (f.endsWith('schema.sql')) return;
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/pg_notify\(\s*'([^']+)'/g)) literal.add(m[1]!);
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/^\s*NOTIFY\s+([a-z_]+)\s*[,;]/gim))
      literal.add(m[1]!);
  });
  walk('src', '.ts', (f) => {
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/pg_notify\(\s*'([^']+)'/g)) literal.add(m[1]!);
    for (const m of text.matchAll(/\.listen\(\s*([A-Z_]+|'[^']*')\s*,/g)) listenCalls.push(`${f}: ${m[1]}`);
  });
  return { literal, listenCalls };
}

beforeAll(async () => {
  console.log(`[change-feed] ${describeTarget()}`);
  ledger = await startTestLedger({
    definitions: [testTaskType({ started: [], aborted: [] }, { maxAttempts: 1 })],
  });
  tenantA = await ledger.createTenant('Feed A');
  tenantB = await ledger.createTenant('Feed B');
  const code = channelsInCode();
  // The product's own channels: the change feed's, the run events' and the access changes'; every
  // LISTEN in the code is on one of them.
  expect([...code.literal].sort()).toEqual([ACCESS_CHANNEL, CHANGE_CHANNEL, EVENT_CHANNEL].sort());
  expect(code.listenCalls.length).toBeGreaterThan(0);
  expect(code.listenCalls.filter((c) => !/: (CHANGE_CHANNEL|EVENT_CHANNEL|ACCESS_CHANNEL)$/.test(c))).toEqual(
    [],
  );
  // pg-boss notifies its workers on a channel of its own (payload: the queue's name).
  const { rows } = await sql<{
    channel: string;
  }>`select ${sql.raw(notifyChannelSql(BOSS_SCHEMA))} as channel`.execute(ledger.database.db);
  const channels = [CHANGE_CHANNEL, EVENT_CHANNEL, ACCESS_CHANNEL, rows[0]!.channel];
  if (onPostgres()) {
    const admin = ledger.database.db;
    await sql
      .raw(`DO $$ BEGIN CREATE ROLE ${LISTENER_ROLE} LOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`)
      .execute(admin);
    const url = new URL(ledger.testDb.url!);
    url.username = LISTENER_ROLE;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    // It holds no grant: it cannot read a single run.
    await expect(client.query('select count(*) from operation_runs')).rejects.toThrow(/permission denied/);
    client.on('notification', (n) => received.push({ channel: n.channel, payload: n.payload ?? '' }));
    for (const c of channels) await client.query(`LISTEN ${pg.escapeIdentifier(c)}`);
    stopListening = async () => {
      await client.end();
      await sql
        .raw(`DROP ROLE IF EXISTS ${LISTENER_ROLE}`)
        .execute(admin)
        .catch(() => {});
    };
    console.log(`[change-feed] PostgreSQL pass: a login with no grants LISTENs on ${channels.join(', ')}`);
  } else {
    const stops = await Promise.all(
      channels.map((c) => ledger.database.listen(c, (payload) => received.push({ channel: c, payload }))),
    );
    stopListening = async () => {
      for (const s of stops) await s();
    };
    console.log(`[change-feed] embedded pass: what is sent on ${channels.join(', ')}`);
  }
  await ledger.feed.subscribe((c) => fed.push(c));
});

afterAll(async () => {
  await stopListening();
  await ledger?.stop();
});

it('no notice names a tenant, an input, an initiator or a failure, while the servers still get every change', async () => {
  const secret = 'client_secret=Zq8~FeedSecretValue123456';
  const marks = {
    input: `input-${uuidv7()}`,
    initiator: `Initiator ${uuidv7()}`,
    failure: `failure-${uuidv7()}`,
  };
  const runs: { tenant: string; id: string }[] = [];
  for (const tenant of [tenantA, tenantB]) {
    const ok = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: `${marks.input}-ok` },
      initiator: { kind: 'api', name: marks.initiator },
    });
    const failed = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: `${marks.input}-fail`, failTimes: -1, errorMessage: `${marks.failure} ${secret}` },
      initiator: { kind: 'api', name: marks.initiator },
    });
    const waiting = await ledger.service.start({
      tenantId: tenant,
      type: 'test.task',
      inputs: { key: `${marks.input}-wait`, waitForAbort: true },
      initiator: { kind: 'api', name: marks.initiator },
    });
    runs.push({ tenant, id: ok.run.id }, { tenant, id: failed.run.id }, { tenant, id: waiting.run.id });
    await ledger.waitForRun(tenant, waiting.run.id, (r) => r.status === 'running', 30_000);
    // The cancel reaches the worker through the sealed feed and stops the handler.
    await ledger.service.cancel(tenant, waiting.run.id);
  }
  // A restore record written by plain SQL: mirrored inside the database, announced like any run.
  const writer = await externalWriter(ledger);
  const restoreId = uuidv7();
  try {
    await writer.tx((q) =>
      q(
        `insert into restore_runs (id, tenant_id, backup_set_id, status, initiator_kind, initiator_name, error_code, error_message, completed_at)
         values ($1, $2, $3, 'failed', 'system', $4, 'restore_failed', $5, now())`,
        [restoreId, tenantB, uuidv7(), marks.initiator, `${marks.failure} ${secret}`],
      ),
    );
  } finally {
    await writer.close();
  }
  for (const r of runs) {
    const done = await ledger.waitForRun(r.tenant, r.id, (x) => x.status === 'completed', 30_000);
    expect(done.outcome).not.toBe('pending');
  }
  // The servers' feed opened every change: each run's completion, the restore mirror's too.
  await until(
    () =>
      runs.every((r) =>
        fed.some((c) => c.kind === 'run' && c.run.id === r.id && c.run.status === 'completed'),
      ) && fed.some((c) => c.kind === 'run' && c.run.source_id === restoreId),
    30_000,
    'every change through the feed',
  );
  expect(fed.filter((c) => c.kind === 'run' && c.run.cancel_requested_at).length).toBeGreaterThanOrEqual(2);
  await until(
    () => received.filter((r) => r.channel === CHANGE_CHANNEL).length >= fed.length,
    30_000,
    'notices',
  );

  const forbidden = [
    tenantA,
    tenantB,
    tenantA.replaceAll('-', ''),
    tenantB.replaceAll('-', ''),
    ...runs.map((r) => r.id),
    restoreId,
    marks.input,
    marks.initiator,
    marks.failure,
    'Zq8~FeedSecretValue',
    'test.task',
    'restore.execute',
  ];
  const everything = received.map((r) => r.payload).join('\n');
  for (const f of forbidden)
    expect({ f, leaked: everything.toLowerCase().includes(f.toLowerCase()) }).toEqual({ f, leaked: false });
  // A notice on the change and run-event channels is a random nonce, ciphertext and a tag: nothing
  // in clear. The run events' notices open (with the key) to the runs' ids.
  const sealed = new Set([CHANGE_CHANNEL, EVENT_CHANNEL]);
  expect(received.filter((x) => x.channel === EVENT_CHANNEL).length).toBeGreaterThan(0);
  for (const r of received.filter((x) => sealed.has(x.channel))) {
    expect(r.payload).toMatch(/^[0-9a-f]{32}\.[A-Za-z0-9+/]+=*\.[0-9a-f]{32}$/);
  }
  // An access change is a random value; pg-boss's notices carry a queue's name.
  for (const r of received.filter((x) => x.channel === ACCESS_CHANNEL))
    expect(r.payload).toMatch(/^[0-9a-f]{32}$/);
  for (const r of received.filter((x) => !sealed.has(x.channel) && x.channel !== ACCESS_CHANNEL))
    expect(r.payload).toMatch(/^opsledger-[a-z]+$/);
  // Even with the key, the failure text in the notices is redacted.
  const { rows } = await sql<{ key: Uint8Array }>`select key from change_feed_key`.execute(
    ledger.database.db,
  );
  const key = Buffer.from(rows[0]!.key);
  const opened = received.filter((x) => x.channel === CHANGE_CHANNEL).map((x) => openSealed(key, x.payload));
  expect(opened.every((o) => o !== null)).toBe(true);
  expect(opened.join('\n')).toContain(marks.failure);
  expect(opened.join('\n')).not.toContain('Zq8~FeedSecretValue');
  const eventRuns = new Set(
    received.filter((x) => x.channel === EVENT_CHANNEL).map((x) => openSealed(key, x.payload)),
  );
  expect(runs.filter((r) => eventRuns.has(r.id)).length).toBeGreaterThan(0);
});

it('a notice forged or altered by another login is dropped: streams hear only what the database sealed', async () => {
  const before = fed.length;
  const forged = [
    JSON.stringify({ tenantId: tenantA, runId: uuidv7(), run: { id: uuidv7(), tenant_id: tenantA } }),
    JSON.stringify({ tenantId: tenantA, reload: true }),
  ];
  const real = received.find((r) => r.channel === CHANGE_CHANNEL)!.payload;
  const [nonce, body, tag] = real.split('.');
  const flipped = Buffer.from(body!, 'base64');
  flipped[0] = flipped[0]! ^ 1;
  forged.push(`${nonce}.${flipped.toString('base64')}.${tag}`);
  for (const f of forged) await sql`select pg_notify(${CHANGE_CHANNEL}, ${f})`.execute(ledger.database.db);
  // A real change after the forgeries: once it arrives, they have been seen and dropped.
  const marker = await ledger.service.start({
    tenantId: tenantA,
    type: 'test.task',
    inputs: { key: `marker-${uuidv7()}` },
    initiator: { kind: 'system' },
  });
  await until(() => fed.some((c) => c.kind === 'run' && c.run.id === marker.run.id), 30_000, 'the marker');
  const after = fed.slice(before);
  expect(after.every((c) => c.kind === 'run' && (c.run.id === marker.run.id || c.tenantId === tenantA))).toBe(
    true,
  );
  expect(after.some((c) => c.kind === 'reload')).toBe(false);
  expect(after.filter((c) => c.kind === 'run' && c.run.id !== marker.run.id)).toEqual([]);
});
