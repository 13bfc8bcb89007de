// Citus readiness as a test: the schema can be distributed by tenant_id exactly as
// docs/SCALING.md says, and the statements the ledger sends on its hot paths (start, list,
// detail, transitions, the restore mirror, stats) each name their tenant, so Citus can route
// every one of them to a single shard. Runs on both databases: the SQL is the same.
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphSimulator, type GraphSimulator } from '../src/graph/simulator.ts';
import { type SuiteLedger, startSuiteLedger } from './helpers/suite-ledger.ts';

const DIRECTORY = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const SCALING_DOC = path.join(import.meta.dirname, '..', 'docs', 'SCALING.md');

/**
 * Global tables: no tenant_id, read on every request or shared by all tenants. In Citus they are
 * reference tables (a copy on every node). A new public table must be listed here or carry
 * tenant_id in its primary key, or the schema test below fails.
 */
const REFERENCE_TABLES = [
  'api_tokens',
  'auth_attempts',
  'change_feed_key',
  'opsledger_migrations',
  'sessions',
  'tenant_binding_key',
  'tenants',
  'user_passwords',
  'users',
];

/**
 * Statements that span tenants on purpose: maintenance that runs as the connecting role in the
 * background (the worker's reaper, pruner and mirror check, the schedule evaluator, the metrics gauges), once per
 * period for the whole fleet and never on a request's path. On Citus they are multi-shard
 * statements. They can fire while the hot paths are exercised, so they are recognised here by a
 * fragment of their SQL and named in docs/SCALING.md.
 */
const MAINTENANCE: { fragment: RegExp; what: string }[] = [
  {
    what: 'reaper: runs whose worker stopped heartbeating',
    fragment: /"status" = \$1 and "last_heartbeat_at" < \$2/,
  },
  { what: 'reaper: queued runs whose job is gone', fragment: /"r"\."job_id" is not null/ },
  { what: 'pruner: a batch of expired runs', fragment: /delete from operation_runs r\s+using \(/ },
  { what: 'schedules: the earliest firing', fragment: /min\("next_fire_at"\)/ },
  {
    what: 'schedules: the most overdue firing',
    fragment: /from schedules s\s+where s\.next_fire_at <= now\(\)/,
  },
  { what: 'metrics: active runs by status', fragment: /"status" <> \$1 group by "status"/ },
  { what: 'metrics: runs marked divergent', fragment: /where "divergence" is not null/ },
  {
    what: 'mirror check: active mirrors whose record is gone',
    fragment: /select opsledger_mirror_source_deleted\(m\.tenant_id/,
  },
  {
    what: 'mirror check: marks of mirrors whose record is gone',
    fragment: /update operation_runs m set divergence = null/,
  },
  {
    what: 'mirror check: restore records with their mirrors',
    fragment: /select r\.\*, to_jsonb\(m\) as mirror from restore_runs r\s+join operation_runs m/,
  },
];

let sim: GraphSimulator;
let ledger: SuiteLedger;
let tenant: string;
let capturing = false;
const captured: string[] = [];
let tenantTables: string[] = [];

beforeAll(async () => {
  sim = createGraphSimulator({ defaultPolicyCount: 3, pageSize: 2 });
  await sim.start();
  sim.registerTenant(DIRECTORY, { clientId: 'app-citus', clientSecret: 'Citus/Secret+0123456789abcdef' });
  ledger = await startSuiteLedger({
    simulator: sim,
    onQuery: (text) => {
      if (capturing) captured.push(text);
    },
  });
  tenant = await ledger.createTenant('Contoso');
  await ledger.suite.connections.set(tenant, {
    directoryId: DIRECTORY,
    clientId: 'app-citus',
    clientSecret: 'Citus/Secret+0123456789abcdef',
  });
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
    where n.nspname = 'public' and c.relkind = 'r' order by 1`.execute(ledger.database.db);
  tenantTables = rows.map((r) => r.name);
}, 120_000);

afterAll(async () => {
  await ledger?.stop();
  await sim?.stop();
});

describe('Citus readiness: the schema', () => {
  it('every public table is tenant-owned (tenant_id leads its primary key) or a listed reference table', async () => {
    const { rows } = await sql<{ name: string; pk: string[] | null }>`
      select c.relname as name,
             (select array(select a.attname from unnest(x.indkey) with ordinality k(attnum, n)
                           join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum order by k.n)::text[]
              from pg_index x where x.indrelid = c.oid and x.indisprimary) as pk
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
      order by 1`.execute(ledger.database.db);
    expect(tenantTables).toContain('operation_runs');
    for (const t of rows) {
      const kind = REFERENCE_TABLES.includes(t.name)
        ? 'reference'
        : tenantTables.includes(t.name) && t.pk?.includes('tenant_id')
          ? 'distributed'
          : 'unclassified';
      expect({ table: t.name, kind }).not.toEqual({ table: t.name, kind: 'unclassified' });
      if (kind === 'reference')
        expect({ table: t.name, tenantOwned: tenantTables.includes(t.name) }).toEqual({
          table: t.name,
          tenantOwned: false,
        });
    }
  });

  it('docs/SCALING.md distributes exactly the tenant-owned tables by tenant_id and lists exactly the reference tables', () => {
    const doc = fs.readFileSync(SCALING_DOC, 'utf8');
    const distributed = [...doc.matchAll(/create_distributed_table\('(\w+)',\s*'(\w+)'/g)];
    const reference = [...doc.matchAll(/create_reference_table\('(\w+)'\)/g)].map((m) => m[1]);
    expect(distributed.every((m) => m[2] === 'tenant_id')).toBe(true);
    expect(distributed.map((m) => m[1]).sort()).toEqual([...tenantTables].sort());
    expect(reference.sort()).toEqual([...REFERENCE_TABLES].sort());
  });
});

describe('Citus readiness: the statements of the hot paths', () => {
  it('every statement on a tenant-owned table during start, list, detail, transitions, mirror and stats names its tenant', async () => {
    capturing = true;
    // Start, the worker's transitions (running, heartbeat, progress, completed), the suite's
    // legacy writes, and the restore mirror, through the real queue and worker.
    const backup = await ledger.run(tenant, 'backup.create', { name: 'Citus check' });
    const backupId = (backup.context as { links: { backupSetId: string } }).links.backupSetId;
    const { restore } = await ledger.restoreRuns.create(
      tenant,
      { backupId, dryRun: true },
      { kind: 'system' },
    );
    await ledger.waitForRun(tenant, restore.runId!, (r) => r.status === 'completed', 60_000);
    await ledger.restoreRuns.get(tenant, restore.id);
    await ledger.restoreRuns.list(tenant);
    await ledger.run(tenant, 'inventory.sync', {});
    // A tenant without a Graph connection: its sync fails, and is retried (the guarded
    // transitions of the API); a cancel of a run in flight (queued or running, whichever it is).
    const other = await ledger.createTenant('Unconnected');
    const failed = await ledger.run(other, 'inventory.sync', {});
    expect(failed.outcome).toBe('failed');
    const retried = await ledger.service.retry(other, failed.id, { kind: 'system' });
    await ledger.waitForRun(other, retried.id, (r) => r.status === 'completed', 60_000);
    const { run: inFlight } = await ledger.service.start({
      tenantId: tenant,
      type: 'backup.create',
      inputs: { name: 'Cancelled' },
      initiator: { kind: 'system' },
    });
    await ledger.service.cancel(tenant, inFlight.id).catch((err: Error) => {
      if (err.name !== 'ConflictError') throw err;
    });
    await ledger.waitForRun(tenant, inFlight.id, (r) => r.status === 'completed', 60_000);
    // The monitoring reads: first page, filtered page, next page, detail, stats.
    const page = await ledger.service.list(tenant, { limit: 2 });
    await ledger.service.list(tenant, {
      limit: 2,
      status: 'completed',
      type: 'backup.create',
      q: backup.id.slice(0, 8),
    });
    expect(page.nextCursor).not.toBeNull();
    await ledger.service.list(tenant, { limit: 2, cursor: page.nextCursor! });
    await ledger.service.get(tenant, backup.id);
    // The run's event log: a page, a filtered page, and the live stream's read after an event.
    const events = await ledger.eventLog.page(tenant, backup.id, { limit: 2 });
    expect(events.data.length).toBeGreaterThan(0);
    await ledger.eventLog.page(tenant, backup.id, { level: 'warn', attempt: 1 });
    await ledger.eventLog.after(tenant, backup.id, events.data[0]!.id);
    await ledger.service.stats(tenant, '7d');
    await ledger.service.dailyCounts(tenant, '30d');
    capturing = false;

    const onTenantTables = captured.filter((s) =>
      tenantTables.some((t) => new RegExp(`(from|join|into|update)\\s+"?${t}"?\\b`, 'i').test(s)),
    );
    const unrouted = onTenantTables.filter(
      (s) => !namesTenant(s) && !MAINTENANCE.some((m) => m.fragment.test(s)),
    );
    console.log(
      `[citus-readiness] ${captured.length} statements captured, ${onTenantTables.length} on tenant-owned tables, ${unrouted.length} without a tenant_id predicate`,
    );
    expect(onTenantTables.length).toBeGreaterThan(20);
    // Every kind of statement the check must judge was seen.
    for (const verb of ['select', 'insert', 'update', 'delete']) {
      expect({ verb, seen: onTenantTables.some((s) => s.trim().toLowerCase().startsWith(verb)) }).toEqual({
        verb,
        seen: true,
      });
    }
    if (process.env.CITUS_DUMP) fs.writeFileSync(process.env.CITUS_DUMP, captured.join('\n;;\n'));
    expect(unrouted.map((s) => s.replace(/\s+/g, ' ').slice(0, 300))).toEqual([]);
  }, 180_000);
});

describe('Citus readiness: the statement check itself', () => {
  it('tells a statement that names its tenant from one that does not', () => {
    expect(namesTenant('select * from "operation_runs" where "tenant_id" = $1 and "id" = $2')).toBe(true);
    expect(namesTenant('insert into "schedules" ("id", "tenant_id") values ($1, $2)')).toBe(true);
    expect(namesTenant('select * from operation_runs where tenant_id = opsledger_tenant()')).toBe(true);
    expect(namesTenant('select * from "operation_runs" where "id" = $1')).toBe(false);
    expect(namesTenant('update "operation_runs" set "status" = $1 where "job_id" = $2')).toBe(false);
    expect(namesTenant('insert into "operation_runs" ("id", "type") values ($1, $2)')).toBe(false);
    expect(namesTenant('delete from operation_runs where completed_at < $1')).toBe(false);
    expect(namesTenant('select * from a join b on a.tenant_id = b.tenant_id')).toBe(false);
  });
});

/**
 * A statement names its tenant when an INSERT lists the tenant_id column, or a WHERE / ON clause
 * compares tenant_id with a parameter or the transaction's bound tenant.
 */
function namesTenant(statement: string): boolean {
  const s = statement.replace(/\s+/g, ' ');
  if (/^\s*insert into "?\w+"? \([^)]*"?tenant_id"?/i.test(s)) return true;
  return /"?tenant_id"?\s*(=|in)\s*(\(?\s*\$\d+|opsledger_tenant\(\)|any\s*\(\$\d+)/i.test(s);
}
