// API latency through the real HTTP server: a tenant's first page of 50 runs, a filtered page, a
// deep keyset page (the cursor ~200 pages in, followed once, then requested again and again), the
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
  /** Measure starts too (PostgreSQL); the embedded phase measures reads only. */
  starts: boolean;
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

/** The read requests of one tenant: follows the cursor `depth` pages in once, picks a run. */
export async function readRequests(url: string, c: Caller, depth: number): Promise<Record<string, Request>> {
  const base = runsPath(c);
  let cursor: string | null = null;
  let pages = 0;
  let detailId = '';
  while (pages < depth) {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await getJson(`${url}${base}?limit=50${q}`, c);
    if (!page.nextCursor) break;
    if (pages === 1) detailId = page.data[25].id;
    cursor = page.nextCursor;
    pages++;
  }
  if (!cursor) throw new Error(`tenant ${c.tenantId} has fewer than two pages of runs`);
  log(`api: tenant ${c.tenantId.slice(0, 8)}… deep page is page ${pages + 1}`);
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
  callers: { regular: Caller; large: Caller | null; starter: Caller },
  s: ApiSettings,
): Promise<ApiResult> {
  const result: ApiResult = {};
  const tenants: [string, Caller, number[]][] = [['regular', callers.regular, [10, 50]]];
  if (callers.large) tenants.push(['large', callers.large, s.largeConnections]);
  const requests: Record<string, Record<string, Request>> = {};
  for (const [name, c] of tenants) requests[name] = await readRequests(server.url, c, 200);

  const listOnBare: Request = { path: `/runs?tenant=${callers.regular.tenantId}` };
  log('api: warm-up');
  await measure({ url: server.url, connections: 10, seconds: 1, request: requests.regular!.list! });
  if (bare) await measure({ url: bare.url, connections: 10, seconds: 1, request: listOnBare });

  const rounds: Record<string, Measured[]> = {};
  const keep = (key: string, m: Measured) => {
    rounds[key] = [...(rounds[key] ?? []), m];
    log(`api: ${key.padEnd(24)} ${fmt(m)}`);
  };
  let seq = 0;
  const stamp = Date.now().toString(36);
  const start = (): Request => ({
    method: 'POST',
    path: runsPath(callers.starter),
    headers: { ...auth(callers.starter), 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'test.task', inputs: { key: `start-${stamp}-${seq++}` } }),
  });
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
  // The list against the bare baseline: interleaved rounds at 50 connections, at least three.
  for (let round = 1; bare && round <= Math.max(3, s.rounds); round++) {
    const request = requests.regular!.list!;
    keep(
      'compare.ledger.c50',
      await measure({ url: server.url, connections: 50, seconds: s.seconds, request }),
    );
    keep(
      'compare.bare.c50',
      await measure({ url: bare.url, connections: 50, seconds: s.seconds, request: listOnBare }),
    );
  }
  // Starts last: each creates a run that the in-process worker then executes.
  for (let round = 1; s.starts && round <= s.rounds; round++) {
    for (const c of [10, 50]) {
      keep(
        `start.c${c}`,
        await measure({ url: server.url, connections: c, seconds: s.seconds, request: start }),
      );
    }
  }
  for (const [key, ms] of Object.entries(rounds)) result[key] = medianOf(ms);
  return result;
}
