import { randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphClient, type GraphClientOptions } from '../src/graph/client.ts';
import { GraphError } from '../src/graph/errors.ts';
import { createGraphSimulator, type GraphSimulator } from '../src/graph/simulator.ts';

const CONFIGS = '/deviceManagement/deviceConfigurations';
const SECRET = 'Zx8Q~super-secret-client-value-0123456789';

let sim: GraphSimulator;
beforeAll(async () => {
  sim = createGraphSimulator({ seed: 9, defaultPolicyCount: 5 });
  await sim.start();
});
afterAll(async () => {
  await sim.stop();
});

function setup(overrides: Partial<GraphClientOptions> = {}, policyCounts = {}) {
  const directoryId = randomUUID();
  sim.registerTenant(directoryId, { clientId: 'app-1', clientSecret: SECRET, policyCounts });
  const waits: number[] = [];
  const client = new GraphClient({
    baseUrl: sim.url,
    directoryId,
    clientId: 'app-1',
    clientSecret: SECRET,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...overrides,
  });
  const requests = (path: string) =>
    sim.requestLog.filter(
      (e) => e.path === path && (e.directoryId === directoryId || e.directoryId === undefined),
    );
  const tokenRequests = () => sim.requestLog.filter((e) => e.path === `/${directoryId}/oauth2/v2.0/token`);
  const resourceRequests = () =>
    sim.requestLog.filter((e) => e.directoryId === directoryId && e.path === `/v1.0${CONFIGS}`);
  return { directoryId, client, waits, requests, tokenRequests, resourceRequests };
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function renderings(err: unknown): string[] {
  return [(err as Error).message, String(err), JSON.stringify(err), inspect(err, { depth: 5 })];
}

describe('GraphClient against the simulator', () => {
  it('pages through 5,000 items following @odata.nextLink', async () => {
    const { client, directoryId } = setup({}, { deviceConfigurations: 5000 });
    const pageSizes: number[] = [];
    const items = await client.listAll<{ id: string }>(CONFIGS, {
      onPage: (page) => {
        pageSizes.push(page.length);
      },
    });
    expect(items).toHaveLength(5000);
    expect(pageSizes).toHaveLength(50);
    expect(pageSizes.every((n) => n === 100)).toBe(true);
    expect(items.map((i) => i.id)).toEqual(
      sim.listPolicies(directoryId, 'deviceConfigurations').map((p) => p.id),
    );

    const viaGenerator: number[] = [];
    for await (const page of client.iteratePages(`${CONFIGS}?$top=999`)) viaGenerator.push(page.length);
    expect(viaGenerator).toEqual([999, 999, 999, 999, 999, 5]);
  });

  it('retries a 429 on one page, honouring Retry-After, and returns every item', async () => {
    const { client, directoryId, waits, resourceRequests } = setup({}, { deviceConfigurations: 350 });
    sim.injectFault(directoryId, 'deviceConfigurations', {
      kind: 'throttle',
      status: 429,
      retryAfterSeconds: 7,
      times: 1,
      onPage: 2,
    });
    const items = await client.listAll<{ id: string }>(CONFIGS);
    expect(items).toHaveLength(350);
    expect(new Set(items.map((i) => i.id)).size).toBe(350);
    expect(waits).toEqual([7000]);
    expect(resourceRequests().map((r) => r.status)).toEqual([200, 200, 429, 200, 200]);
  });

  it('caps a huge Retry-After at maxRetryAfterSeconds', async () => {
    const { client, directoryId, waits } = setup({ maxRetryAfterSeconds: 30 });
    sim.injectFault(directoryId, '*', { kind: 'throttle', retryAfterSeconds: 3600, times: 2 });
    expect(await client.listAll(CONFIGS)).toHaveLength(5);
    expect(waits).toEqual([30_000, 30_000]);
  });

  it('backs off exponentially when there is no Retry-After', async () => {
    const { client, directoryId, waits } = setup();
    sim.injectFault(directoryId, '*', { kind: 'throttle', status: 503, times: 3 });
    expect(await client.listAll(CONFIGS)).toHaveLength(5);
    expect(waits).toHaveLength(3);
    expect(waits[0]).toBeGreaterThanOrEqual(250);
    expect(waits[2]!).toBeGreaterThanOrEqual(1000);
    expect(waits[2]!).toBeLessThanOrEqual(2000);
  });

  it('gives a typed error once 503 exhausts the retries', async () => {
    const { client, directoryId, waits, resourceRequests } = setup({ maxRetries: 3 });
    sim.injectFault(directoryId, 'deviceConfigurations', {
      kind: 'throttle',
      status: 503,
      retryAfterSeconds: 2,
    });
    const err = await caught(client.listAll(CONFIGS));
    expect(err).toBeInstanceOf(GraphError);
    expect(err).toMatchObject({ code: 'graph_unavailable', status: 503, retryAfterSeconds: 2 });
    expect((err as GraphError).transient).toBe(true);
    expect(waits).toEqual([2000, 2000, 2000]);
    expect(resourceRequests()).toHaveLength(4);
  });

  it('gives graph_throttled once 429 exhausts the retries', async () => {
    const { client, directoryId } = setup({ maxRetries: 1 });
    sim.injectFault(directoryId, '*', { kind: 'throttle', status: 429, retryAfterSeconds: 1 });
    await expect(client.listAll(CONFIGS)).rejects.toMatchObject({ code: 'graph_throttled', status: 429 });
  });

  it('fails a 403 at once with graph_forbidden and no retry', async () => {
    const { client, directoryId, waits, resourceRequests } = setup();
    sim.injectFault(directoryId, 'deviceConfigurations', { kind: 'error', status: 403 });
    const err = await caught(client.listAll(CONFIGS));
    expect(err).toMatchObject({ name: 'GraphError', code: 'graph_forbidden', status: 403 });
    expect((err as Error).message).toContain('Forbidden');
    expect(waits).toEqual([]);
    expect(resourceRequests()).toHaveLength(1);
  });

  it('reports a malformed page as graph_bad_response', async () => {
    const { client, directoryId } = setup({}, { deviceConfigurations: 250 });
    sim.injectFault(directoryId, 'deviceConfigurations', { kind: 'malformed', times: 1, onPage: 1 });
    const pages: number[] = [];
    const err = await caught(client.listAll(CONFIGS, { onPage: (p) => void pages.push(p.length) }));
    expect(err).toMatchObject({ code: 'graph_bad_response' });
    expect(pages).toEqual([100]);
  });

  it('treats a JSON page without a value array as graph_bad_response', async () => {
    const fakeFetch: typeof fetch = async (input) =>
      String(input).includes('/oauth2/')
        ? Response.json({ access_token: 'tok-abc-123456', expires_in: 3600 })
        : Response.json({ items: [] });
    const client = new GraphClient({
      baseUrl: 'https://graph.test',
      directoryId: 'd',
      clientId: 'c',
      clientSecret: SECRET,
      fetch: fakeFetch,
    });
    await expect(client.listAll(CONFIGS)).rejects.toMatchObject({ code: 'graph_bad_response' });
  });

  it('refuses to send its token to a nextLink on another origin', async () => {
    const seen: string[] = [];
    const fakeFetch: typeof fetch = async (input) => {
      seen.push(String(input));
      if (String(input).includes('/oauth2/'))
        return Response.json({ access_token: 'tok-abc-123456', expires_in: 3600 });
      return Response.json({ value: [{ id: 'a' }], '@odata.nextLink': 'https://evil.example/v1.0/steal' });
    };
    const client = new GraphClient({
      baseUrl: 'https://graph.test',
      directoryId: 'd',
      clientId: 'c',
      clientSecret: SECRET,
      fetch: fakeFetch,
    });
    await expect(client.listAll(CONFIGS)).rejects.toMatchObject({ code: 'graph_bad_response' });
    expect(seen.some((u) => u.startsWith('https://evil.example'))).toBe(false);
  });

  it('fails a wrong secret with graph_auth_failed that leaks neither secret nor token', async () => {
    const { directoryId } = setup();
    const wrongSecret = 'Wr0ng~secret-that-must-not-leak-987654';
    const client = new GraphClient({
      baseUrl: sim.url,
      directoryId,
      clientId: 'app-1',
      clientSecret: wrongSecret,
    });
    const err = await caught(client.listAll(CONFIGS));
    expect(err).toMatchObject({ code: 'graph_auth_failed', status: 401 });
    for (const text of renderings(err)) {
      expect(text).not.toContain(wrongSecret);
      expect(text).not.toContain(SECRET);
    }
    for (const text of [JSON.stringify(client), inspect(client, { depth: 5, showHidden: true })]) {
      expect(text).not.toContain(wrongSecret);
    }
  });

  it('redacts a secret or token that a hostile server echoes back', async () => {
    const tokens: string[] = [];
    let phase: 'token' | 'resource' = 'token';
    const fakeFetch: typeof fetch = async (input, init) => {
      if (String(input).includes('/oauth2/')) {
        if (phase === 'token') {
          return Response.json(
            { error: 'invalid_client', error_description: `bad secret ${String(init?.body)}` },
            { status: 401 },
          );
        }
        const token = `tok-${randomUUID()}`;
        tokens.push(token);
        return Response.json({ access_token: token, expires_in: 3600 });
      }
      const auth = new Headers(init?.headers).get('authorization');
      return Response.json(
        { error: { code: 'InvalidAuthenticationToken', message: `rejected ${auth}` } },
        { status: 401 },
      );
    };
    const options = {
      baseUrl: 'https://graph.test',
      directoryId: 'd',
      clientId: 'c',
      clientSecret: SECRET,
      fetch: fakeFetch,
    };
    const tokenErr = await caught(new GraphClient(options).get(CONFIGS));
    expect(tokenErr).toMatchObject({ code: 'graph_auth_failed' });
    const formEncoded = new URLSearchParams({ s: SECRET }).toString().slice(2);
    expect(formEncoded).not.toBe(SECRET);
    for (const text of renderings(tokenErr)) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(formEncoded);
      expect(text).not.toContain('super-secret-client-value');
    }

    phase = 'resource';
    const resourceErr = await caught(new GraphClient(options).get(CONFIGS));
    expect(resourceErr).toMatchObject({ code: 'graph_auth_failed', status: 401 });
    expect(tokens).toHaveLength(2); // refreshed once after the first 401
    for (const text of renderings(resourceErr)) {
      expect(text).not.toContain(SECRET);
      for (const token of tokens) expect(text).not.toContain(token);
    }
  });

  it('caches the token across calls and refreshes once after a 401', async () => {
    const { client, directoryId, tokenRequests } = setup();
    await client.listAll(CONFIGS);
    await client.listAll('/deviceAppManagement/managedAppPolicies');
    const first = sim.listPolicies(directoryId, 'deviceConfigurations')[0]!;
    await client.get(`${CONFIGS}/${first.id}`);
    await Promise.all([client.listAll(CONFIGS), client.listAll(CONFIGS)]);
    expect(tokenRequests()).toHaveLength(1);

    sim.revokeTokens(directoryId);
    expect(await client.listAll(CONFIGS)).toHaveLength(5);
    expect(tokenRequests().map((r) => r.status)).toEqual([200, 200]);
  });

  it('requests a new token once the cached one is within 60 s of expiry', async () => {
    let clock = 1_000_000;
    const { client, tokenRequests } = setup({ now: () => clock });
    await client.listAll(CONFIGS);
    clock += 3540_000 - 1;
    await client.listAll(CONFIGS);
    expect(tokenRequests()).toHaveLength(1);
    clock += 1;
    await client.listAll(CONFIGS);
    expect(tokenRequests()).toHaveLength(2);
  });

  it('stops listing when the caller aborts between pages', async () => {
    const { client, resourceRequests } = setup({}, { deviceConfigurations: 500 });
    const controller = new AbortController();
    const err = await caught(
      client.listAll(CONFIGS, {
        signal: controller.signal,
        onPage: () => controller.abort(),
      }),
    );
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(resourceRequests()).toHaveLength(1);
  });

  it('stops at once when the caller aborts mid-request', async () => {
    const { client, directoryId } = setup({ sleep: undefined });
    sim.injectFault(directoryId, '*', { kind: 'slow', delayMs: 5000 });
    const controller = new AbortController();
    const reason = new DOMException('user cancelled', 'AbortError');
    setTimeout(() => controller.abort(reason), 50);
    const started = performance.now();
    const err = await caught(client.listAll(CONFIGS, { signal: controller.signal }));
    expect(err).toBe(reason);
    expect(performance.now() - started).toBeLessThan(1000);
    sim.clearFaults(directoryId);
  });

  it('times out a slow request with graph_timeout', async () => {
    const { client, directoryId, waits } = setup({ requestTimeoutMs: 100, maxRetries: 1 });
    sim.injectFault(directoryId, '*', { kind: 'slow', delayMs: 2000 });
    const err = await caught(client.listAll(CONFIGS));
    expect(err).toMatchObject({ code: 'graph_timeout' });
    expect(waits).toHaveLength(1);
    sim.clearFaults(directoryId);
  });

  it('honours Retry-After given as an HTTP date', async () => {
    const now = Date.parse('2025-03-01T12:00:00Z');
    let calls = 0;
    const fakeFetch: typeof fetch = async (input) => {
      if (String(input).includes('/oauth2/'))
        return Response.json({ access_token: 'tok-abc-123456', expires_in: 3600 });
      calls++;
      if (calls === 1) {
        return new Response('', {
          status: 429,
          headers: { 'retry-after': new Date(now + 12_000).toUTCString() },
        });
      }
      return Response.json({ value: [{ id: 'x' }] });
    };
    const waits: number[] = [];
    const client = new GraphClient({
      baseUrl: 'https://graph.test',
      directoryId: 'd',
      clientId: 'c',
      clientSecret: SECRET,
      fetch: fakeFetch,
      now: () => now,
      sleep: async (ms) => void waits.push(ms),
    });
    expect(await client.listAll(CONFIGS)).toEqual([{ id: 'x' }]);
    expect(waits).toEqual([12_000]);
  });

  it('does not repeat a POST after an ambiguous 502', async () => {
    const { client, directoryId, requests } = setup();
    sim.injectFault(directoryId, 'deviceConfigurations', { kind: 'error', status: 502, times: 1 });
    await expect(client.post(CONFIGS, { displayName: 'x' })).rejects.toMatchObject({
      code: 'graph_unavailable',
    });
    expect(requests(`/v1.0${CONFIGS}`).filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(sim.listPolicies(directoryId, 'deviceConfigurations')).toHaveLength(5);
  });

  it('keeps the secret out of JSON.stringify and util.inspect of the client', () => {
    const { client } = setup();
    expect(JSON.stringify(client)).not.toContain(SECRET);
    expect(inspect(client, { showHidden: true, depth: 10 })).not.toContain(SECRET);
  });
});
