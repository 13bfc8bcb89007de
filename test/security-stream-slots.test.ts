import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createHttpServer } from '../src/main/http.ts';
import { type ApiHarness, startApiHarness, type TestUser } from './helpers/api-app.ts';
import { openStream, type Stream, until } from './helpers/sse.ts';
import { testTaskType } from './helpers/test-types.ts';

// Issue 19: 40 users of 5 tenants, each within the per-user and per-tenant caps, took every stream
// place of a process and a user of an uninvolved tenant got 429; idle TCP connections that send
// nothing made /healthz fail for everyone.
let h: ApiHarness;

beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType({ started: [], aborted: [] })], worker: false });
});
afterAll(async () => {
  await h?.stop();
});

async function listening(app: Awaited<ReturnType<typeof createHttpServer>>) {
  await app.listen({ port: 0, host: '127.0.0.1' });
  onTestFinished(() => app.close());
  return `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
}

describe('stream places: a fair share per tenant', () => {
  it('keeps places for the first streams of other tenants when 5 tenants fill a small cap', async () => {
    const cap = 12;
    const app = await createHttpServer(h.ledger, {
      suite: false,
      limits: { streams: { perProcess: cap, reserve: 4, minPerTenant: 1, perUser: 8, perTenant: 64 } },
    });
    const url = await listening(app);
    const streams: Stream[] = [];
    onTestFinished(() => {
      for (const s of streams) s.close();
    });
    const open = async (tenant: string, user: TestUser) => {
      const s = openStream(`${url}/api/v1/tenants/${tenant}/operations/stream`, user.token);
      streams.push(s);
      return (await s.ready).status;
    };
    // Five tenants, two users each, open streams until the process refuses them.
    const busy: { tenant: string; users: TestUser[] }[] = [];
    for (let t = 0; t < 5; t++) {
      const tenant = await h.ledger.createTenant(`Busy ${t}`);
      busy.push({
        tenant,
        users: [
          await h.user(`b${t}a`, { [tenant]: 'viewer' }),
          await h.user(`b${t}b`, { [tenant]: 'viewer' }),
        ],
      });
    }
    const statuses: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const b of busy) for (const u of b.users) statuses.push(await open(b.tenant, u));
    }
    // The busy tenants stop where only the reserve is left (a busy tenant's first stream may
    // still come from it).
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    const left = cap - app.opsledger.streams.size;
    expect(left).toBeGreaterThanOrEqual(4 - 1);
    // Uninvolved tenants still get their first streams, one tenant per place left…
    for (let t = 0; t < left; t++) {
      const tenant = await h.ledger.createTenant(`Quiet ${t}`);
      const u = await h.user(`q${t}`, { [tenant]: 'viewer' });
      expect(await open(tenant, u)).toBe(200);
      // …but no more than their minimum while the reserve is all that is left.
      if (t === 0) expect(await open(tenant, u)).toBe(429);
    }
    expect(app.opsledger.streams.size).toBe(cap);
    // The cap itself holds.
    const late = await h.ledger.createTenant('Late');
    expect(await open(late, await h.user('late', { [late]: 'viewer' }))).toBe(429);
  });
});

describe('connections: a cap and short timeouts', () => {
  it('serves /healthz with more idle sockets open than the cap, and closes idle sockets soon', async () => {
    const max = 8;
    const app = await createHttpServer(h.ledger, {
      suite: false,
      connections: { max, headersTimeoutMs: 1500, requestTimeoutMs: 3000, checkIntervalMs: 250 },
    });
    const url = await listening(app);
    const { port } = new URL(url);
    const idle: net.Socket[] = [];
    const closed = new Set<net.Socket>();
    onTestFinished(() => {
      for (const s of idle) s.destroy();
    });
    // Three times the cap of sockets that connect and send nothing.
    for (let i = 0; i < 3 * max; i++) {
      const s = net.connect(Number(port), '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => closed.add(s));
      s.resume(); // read, so that the server's close is seen
      idle.push(s);
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    }
    await until(() => app.opsledger.connections.open <= max, 10_000, 'the cap');
    // /healthz answers at once: a new connection displaces the oldest idle one.
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    expect(app.opsledger.connections.open).toBeLessThanOrEqual(max);
    expect(closed.size).toBeGreaterThanOrEqual(2 * max);
    // The idle sockets that remain are closed by the header timeout, not held for good.
    await until(() => closed.size === idle.length, 15_000, 'idle sockets closed by the header timeout');
  });
});
