import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { TenantConcurrency } from '../src/http/expensive-reads.ts';
import { createHttpServer } from '../src/main/http.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

// Issue 19: the per-caller budget was keyed on a hash of the raw Authorization header, so each
// spelling of a credential (or each invalid header) got a fresh bucket; and restore starts drew on
// the general budget only.
const log: HandlerLog = { started: [], aborted: [] };
let h: ApiHarness;
let tenant: string;
let user: TestUser;

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType(log)], withRestore: true });
  tenant = await h.ledger.createTenant('Budgets');
  user = await h.user('budget', { [tenant]: 'operator' });
});
afterAll(async () => {
  await h?.stop();
});

async function strictApp(limits: {
  requestsPerMinute?: number;
  startsPerMinute?: number;
  expensiveReadsPerTenant?: number;
}) {
  const app = await createHttpServer(h.ledger, {
    suite: true,
    limits: { loginPerMinute: 1000, requestsPerMinute: 1000, startsPerMinute: 1000, ...limits },
  });
  onTestFinished(() => app.close());
  await app.ready();
  return app;
}

describe('budgets keyed on who, not on how it is spelled', () => {
  it('charges every invalid spelling of a credential to one bucket: the client address', async () => {
    const app = await strictApp({ requestsPerMinute: 6 });
    const spellings = [
      'bearer olt_x_y',
      'Bearer  olt_x_y',
      'BEARER olt_x_y',
      `Bearer ${randomUUID()}`,
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      randomUUID(),
      'Bearer',
      `bearer   ${randomUUID()}`,
    ];
    const codes: number[] = [];
    for (const authorization of spellings) {
      const res = await app.inject({
        url: `/api/v1/tenants/${tenant}/operations`,
        headers: { authorization },
        remoteAddress: '203.0.113.7',
      });
      codes.push(res.statusCode);
      if (res.statusCode === 429) {
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
    // Six refusals, then the address's budget is spent whatever the next header says.
    expect(codes).toEqual([401, 401, 401, 401, 401, 401, 429, 429]);
    // The same address without any credential is the same caller…
    const bare = await app.inject({ url: '/api/v1/me', remoteAddress: '203.0.113.7' });
    expect(bare.statusCode).toBe(429);
    // …while another address is untouched, and so is the valid token's user from this address.
    const other = await app.inject({
      url: '/api/v1/me',
      headers: { authorization: 'bearer nope' },
      remoteAddress: '203.0.113.8',
    });
    expect(other.statusCode).toBe(401);
    const valid = await app.inject({
      url: '/api/v1/me',
      headers: h.bearer(user),
      remoteAddress: '203.0.113.7',
    });
    expect(valid.statusCode).toBe(200);
  });

  it('charges a valid credential to its user however it is spelled, and across the user’s credentials', async () => {
    const app = await strictApp({ requestsPerMinute: 4 });
    const u = await h.user('spelled', { [tenant]: 'viewer' });
    const second = await app.opsledger.credentials.createToken(u.id, 'second');
    const headers = [
      { authorization: `Bearer ${u.token}` },
      { authorization: `bearer ${u.token}` },
      { authorization: `Bearer   ${u.token}` },
      { authorization: `Bearer ${second.secret}` },
      { authorization: `BEARER ${second.secret}` },
    ];
    const codes: number[] = [];
    // Each from its own address: the budget follows the user, not where the request came from.
    for (const [i, hdr] of headers.entries()) {
      const res = await app.inject({ url: '/api/v1/me', headers: hdr, remoteAddress: `198.51.100.${i + 1}` });
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([200, 200, 200, 200, 429]);
    // Another user keeps a budget of their own.
    const res = await app.inject({
      url: '/api/v1/me',
      headers: h.bearer(user),
      remoteAddress: '198.51.100.1',
    });
    expect(res.statusCode).toBe(200);
  });

  it('draws restore starts and their retries on the one start budget shared with run starts', async () => {
    const app = await strictApp({ startsPerMinute: 3 });
    const u = await h.user('starter', { [tenant]: 'operator' });
    const base = `/api/v1/tenants/${tenant}`;
    const restore = await app.inject({
      method: 'POST',
      url: `${base}/restore-runs`,
      headers: { authorization: `Bearer ${u.token}` },
      payload: { backupId: randomUUID() },
    });
    // No such backup (or not a backup id), but the attempt counts.
    expect([400, 404]).toContain(restore.statusCode);
    const retry = await app.inject({
      method: 'POST',
      url: `${base}/restore-runs/${randomUUID()}/retry`,
      headers: { authorization: `bearer ${u.token}` },
    });
    expect([400, 404]).toContain(retry.statusCode);
    const start = await app.inject({
      method: 'POST',
      url: `${base}/operations`,
      headers: { authorization: `Bearer  ${u.token}` },
      payload: { type: 'test.task', inputs: { key: 'budget-1' } },
    });
    expect(start.statusCode).toBe(202);
    for (const req of [
      { method: 'POST' as const, url: `${base}/restore-runs`, payload: { backupId: randomUUID() } },
      { method: 'POST' as const, url: `${base}/restore-runs/${randomUUID()}/retry` },
      { method: 'POST' as const, url: `${base}/operations/${randomUUID()}/retry` },
      {
        method: 'POST' as const,
        url: `${base}/operations`,
        payload: { type: 'test.task', inputs: { key: 'b-2' } },
      },
    ]) {
      const res = await app.inject({ ...req, headers: { authorization: `Bearer ${u.token}` } });
      expect(res.statusCode, req.url).toBe(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.json()).toMatchObject({ status: 429, title: 'Too Many Requests' });
    }
    // Reads are not starts: the user can still look.
    const list = await app.inject({
      url: `${base}/operations`,
      headers: { authorization: `Bearer ${u.token}` },
    });
    expect(list.statusCode).toBe(200);
  });
});

describe('expensive reads: a concurrency limit per tenant', () => {
  it('counts places per tenant and gives each back once', () => {
    const gate = new TenantConcurrency(2);
    const a1 = gate.tryEnter('a')!;
    const a2 = gate.tryEnter('a')!;
    expect(gate.tryEnter('a')).toBeNull();
    expect(gate.tryEnter('b')).not.toBeNull();
    a1();
    a1(); // idempotent: a double release frees no extra place
    expect(gate.inFlight('a')).toBe(1);
    const a3 = gate.tryEnter('a');
    expect(a3).not.toBeNull();
    expect(gate.tryEnter('a')).toBeNull();
    a2();
    a3!();
    expect(gate.inFlight('a')).toBe(0);
  });

  it('answers 429 with Retry-After to one tenant’s burst of statistics, searches and deep pages, not to another tenant', async () => {
    const app = await strictApp({ expensiveReadsPerTenant: 2 });
    const other = await h.ledger.createTenant('Quiet neighbour');
    const noisy = await h.user('noisy', { [tenant]: 'viewer' });
    const quiet = await h.user('quiet', { [other]: 'viewer' });
    const base = `/api/v1/tenants/${tenant}/operations`;
    const burst = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        app.inject({
          url:
            i % 3 === 0
              ? `${base}/stats?window=30d`
              : i % 3 === 1
                ? `${base}?q=0190`
                : `${base}/stats?window=24h`,
          headers: { authorization: `Bearer ${noisy.token}` },
        }),
      ).concat(
        // The other tenant's statistics and list, in the middle of the burst.
        app.inject({
          url: `/api/v1/tenants/${other}/operations/stats?window=30d`,
          headers: { authorization: `Bearer ${quiet.token}` },
        }),
        app.inject({
          url: `/api/v1/tenants/${other}/operations`,
          headers: { authorization: `Bearer ${quiet.token}` },
        }),
      ),
    );
    const mine = burst.slice(0, 24);
    const refused = mine.filter((r) => r.statusCode === 429);
    expect(mine.filter((r) => r.statusCode === 200).length).toBeGreaterThanOrEqual(2);
    expect(refused.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.statusCode === 200 || r.statusCode === 429)).toBe(true);
    for (const r of refused) {
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(r.json()).toMatchObject({ status: 429, title: 'Too Many Requests' });
    }
    expect(burst.slice(24).map((r) => r.statusCode)).toEqual([200, 200]);
    // Every place was given back: the tenant's reads go through again, one at a time.
    expect(app.opsledger.expensiveReads.inFlight(tenant)).toBe(0);
    for (let i = 0; i < 3; i++) {
      const r = await app.inject({
        url: `${base}/stats?window=7d`,
        headers: { authorization: `Bearer ${noisy.token}` },
      });
      expect(r.statusCode).toBe(200);
    }
    // A first page is cheap and never limited.
    const firstPages = await Promise.all(
      Array.from({ length: 8 }, () =>
        app.inject({ url: base, headers: { authorization: `Bearer ${noisy.token}` } }),
      ),
    );
    expect(firstPages.map((r) => r.statusCode)).toEqual(Array(8).fill(200));
  });
});
