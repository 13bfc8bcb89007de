// API latency through the real HTTP server: a tenant's first page of 50 runs, a filtered page, a
// deep keyset page (page 201: the cursor followed once, then requested again and again), the
// detail of one run, and starts with a new identity each; at 10 and 50 connections. Beside it
// the bare baseline (bench/bare-server.ts) on the same tenant, ledger and bare rounds interleaved
// so a noisy moment on this shared machine hurts both alike; figures are medians of the rounds.
import type { Caller } from './fixtures.ts';
import { type Child, fmt, type Measured, measure, type Request } from './http.ts';
import { log, median, round } from './lib.ts';

export type ApiSettings = {
  seconds: number;
  rounds: number;
  /** Connection counts for the large tenant's reads (the regular tenant's are always 10 and 50). */
  largeConnections: number[];
};

export type ApiResult = Record<string, Measured>;

const auth = (c: Caller) => ({ authorization: `Bearer ${c.token}` });
const runsPath = (c: Caller) => `/api/v1/tenants/${c.tenantId}/operations`;

/** A tenant's first page of 50 runs. */
export const listRequest = (c: Caller): Request => ({ path: `${runsPath(c)}?limit=50`, headers: auth(c) });

/** Medians, metric by metric, of repeated measurements. */
export function medianOf(ms: Measured[]): Measured {
  const m = (k: keyof Measured) => round(median(ms.map((x) => x[k])), 2);
  return {
    rps: m('rps'),
    p50: m('p50'),
    p95: m('p95'),
    p99: m('p99'),
    ok: m('ok'),
    errors: m('errors'),
    bytes: m('bytes'),
  };
}

async function getJson(url: string, c: Caller): Promise<any> {
  const res = await fetch(url, { headers: auth(c) });
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/**
 * The read requests of one tenant. The deep page is found by following the cursor once, 200 runs a
 * step, to `depth` runs in (or as far as the tenant's history goes): page 201 of 50 at 10,000.
 */
export async function readRequests(url: string, c: Caller, depth = 10_000): Promise<Record<string, Request>> {
  const base = runsPath(c);
  let cursor: string | null = null;
  let skipped = 0;
  let detailId = '';
  while (skipped < depth) {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await getJson(`${url}${base}?limit=200${q}`, c);
    if (!page.nextCursor) break;
    if (!detailId) detailId = page.data[120].id;
    cursor = page.nextCursor;
    skipped += page.data.length;
  }
  if (!cursor) throw new Error(`tenant ${c.tenantId} has fewer than 200 runs`);
  log(`api: tenant ${c.tenantId.slice(0, 8)}…: the deep page starts ${skipped.toLocaleString('en')} runs in`);
  const headers = auth(c);
  return {
    list: listRequest(c),
    filtered: { path: `${base}?limit=50&type=inventory.sync&outcome=failed`, headers },
    deep: { path: `${base}?limit=50&cursor=${encodeURIComponent(cursor)}`, headers },
    detail: { path: `${base}/${detailId}`, headers },
  };
}

export async function apiPhase(
  server: Child,
  bare: Child | null,
  callers: { regular: Caller; large: Caller | null },
  s: ApiSettings,
): Promise<ApiResult> {
  const tenants: [string, Caller, number[]][] = [['regular', callers.regular, [10, 50]]];
  if (callers.large) tenants.push(['large', callers.large, s.largeConnections]);
  const requests: Record<string, Record<string, Request>> = {};
  for (const [name, c] of tenants) requests[name] = await readRequests(server.url, c);

  const listOnBare: Request = { path: `/runs?tenant=${callers.regular.tenantId}` };
  // Every request is warmed up before anything is measured (the JIT, the plan caches, the pages
  // it reads): without it the first scenario of a one-round quick run paid for all of that.
  log('api: warm-up, 1 s of every request at 10 connections');
  for (const [name] of tenants) {
    for (const request of Object.values(requests[name]!)) {
      await measure({ url: server.url, connections: 10, seconds: 1, request });
    }
  }
  if (bare) await measure({ url: bare.url, connections: 10, seconds: 1, request: listOnBare });

  const rounds = roundKeeper();
  const keep = rounds.keep;
  for (let round = 1; round <= s.rounds; round++) {
    log(`api: round ${round}/${s.rounds}`);
    for (const [name, , connections] of tenants) {
      for (const [kind, request] of Object.entries(requests[name]!)) {
        for (const c of connections) {
          keep(
            `${name}.${kind}.c${c}`,
            await measure({ url: server.url, connections: c, seconds: s.seconds, request }),
          );
        }
      }
    }
  }
  // The list against the bare baseline: interleaved rounds at 50 connections (throughput) and at 10
  // (the bare server's p95 there is this machine's floor for the list's latency), at least three.
  for (let round = 1; bare && round <= Math.max(3, s.rounds); round++) {
    const request = requests.regular!.list!;
    for (const c of [50, 10]) {
      keep(
        `compare.ledger.c${c}`,
        await measure({ url: server.url, connections: c, seconds: s.seconds, request }),
      );
      keep(
        `compare.bare.c${c}`,
        await measure({ url: bare.url, connections: c, seconds: s.seconds, request: listOnBare }),
      );
    }
  }
  return rounds.medians();
}

function roundKeeper() {
  const rounds: Record<string, Measured[]> = {};
  return {
    keep(key: string, m: Measured) {
      rounds[key] = [...(rounds[key] ?? []), m];
      log(`api: ${key.padEnd(24)} ${fmt(m)}`);
    },
    medians(): ApiResult {
      return Object.fromEntries(Object.entries(rounds).map(([key, ms]) => [key, medianOf(ms)]));
    },
  };
}

/**
 * Starts, each with a new identity, so each creates a run (which the server's worker then runs):
 * last among the server's measurements, so the work they leave behind disturbs nothing else.
 */
export async function startPhase(server: Child, starter: Caller, s: ApiSettings): Promise<ApiResult> {
  const { keep, medians } = roundKeeper();
  let seq = 0;
  const stamp = Date.now().toString(36);
  const start = (): Request => ({
    method: 'POST',
    path: runsPath(starter),
    headers: { ...auth(starter), 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'test.task', inputs: { key: `start-${stamp}-${seq++}` } }),
  });
  // Starts last: each creates a run that the in-process worker then executes.
  for (let round = 1; round <= s.rounds; round++) {
    for (const c of [10, 50]) {
      keep(
        `start.c${c}`,
        await measure({ url: server.url, connections: c, seconds: s.seconds, request: start }),
      );
    }
  }
  return medians();
}
