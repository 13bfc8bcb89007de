// Load benchmark: one server process, 50 tenants, 60 s of mixed reads and starts at the highest
// rate autocannon can drive over loopback, with one open run stream per tenant. Holds the
// server to: no 5xx, every accepted start completed exactly once, memory flat between the
// first and the last 10 s. `npm run bench:load` (DATABASE_URL for PostgreSQL, else embedded).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import pg from 'pg';

const DURATION_S = Number(process.env.LOAD_SECONDS ?? 60);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 32);

async function database(): Promise<{ env: Record<string, string>; drop(): Promise<void>; label: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'opsledger-load-'));
  const base = process.env.DATABASE_URL;
  if (!base) {
    return {
      env: { DATA_DIR: dataDir, DATABASE_URL: '' },
      label: 'embedded',
      async drop() {
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `opsledger_load_${process.pid}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    env: { DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    label: 'PostgreSQL',
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const db = await database();
const server = spawn(process.execPath, ['--expose-gc', 'bench/load-server.ts'], {
  env: { ...process.env, ...db.env, SECRET_KEY: 'c'.repeat(64), METRICS: 'open', LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const lines = createInterface({ input: server.stdout! });
const { url, tenants } = JSON.parse(
  await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    server.once('exit', (code) => reject(new Error(`load server exited (${code})`)));
  }),
) as { url: string; tenants: { id: string; token: string }[] };
/** The server's heap after a full collection, asked for at a moment of the run. */
const retained: number[] = [];
lines.on('line', (line) => {
  const m = JSON.parse(line) as { retainedHeap?: number };
  if (m.retainedHeap) retained.push(m.retainedHeap);
});
const askRetained = (afterS: number) => setTimeout(() => server.kill('SIGUSR2'), afterS * 1000);
askRetained(10);
askRetained(DURATION_S - 1);

// Memory of the server, from its own metrics, once a second.
const memory: { at: number; rss: number; heap: number }[] = [];
const metric = (text: string, name: string) =>
  Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
const sampler = setInterval(async () => {
  const text = await fetch(`${url}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  if (text) {
    memory.push({
      at: Date.now(),
      rss: metric(text, 'opsledger_process_resident_memory_bytes'),
      heap: metric(text, 'opsledger_nodejs_heap_size_used_bytes'),
    });
  }
}, 1000);

// One stream per tenant, counting run events.
let streamEvents = 0;
const streams = tenants.map((t) => {
  const controller = new AbortController();
  void fetch(`${url}/api/v1/tenants/${t.id}/operations/stream`, {
    headers: { authorization: `Bearer ${t.token}` },
    signal: controller.signal,
  })
    .then(async (res) => {
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        streamEvents += decoder.decode(value).split('event: run').length - 1;
      }
    })
    .catch(() => {});
  return controller;
});

let seq = 0;
const started = new Map<string, number>();
const statuses = new Map<number, number>();
const startedAt = Date.now();
const result = await autocannon({
  url,
  connections: CONNECTIONS,
  duration: DURATION_S,
  requests: [
    {
      setupRequest(req: Record<string, unknown>) {
        const t = tenants[seq % tenants.length]!;
        seq += 1;
        const headers = { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' };
        const kind = seq % 10;
        if (kind < 2) {
          // A start: a new key each time, so every accepted start is a new run.
          return {
            ...req,
            method: 'POST',
            path: `/api/v1/tenants/${t.id}/operations`,
            headers,
            body: JSON.stringify({ type: 'test.task', inputs: { key: `load-${seq}`, sleepMs: 5 } }),
          };
        }
        if (kind < 4)
          return { ...req, method: 'GET', path: `/api/v1/tenants/${t.id}/operations/stats`, headers };
        return { ...req, method: 'GET', path: `/api/v1/tenants/${t.id}/operations?limit=20`, headers };
      },
      onResponse(status: number, body: string) {
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 202) {
          const id = (JSON.parse(body) as { run: { id: string } }).run.id;
          started.set(id, (started.get(id) ?? 0) + 1);
        }
      },
    },
  ],
} as never);
const loadMs = Date.now() - startedAt;
clearInterval(sampler);

// Every accepted start must complete, exactly once, with no duplicate run for one start.
const drainBy = Date.now() + 300_000;
let runs: { id: string; status: string }[] = [];
for (;;) {
  runs = [];
  for (const t of tenants) {
    let cursor: string | null = null;
    do {
      const q: string = `limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await fetch(`${url}/api/v1/tenants/${t.id}/operations?${q}`, {
        headers: { authorization: `Bearer ${t.token}` },
      }).then((r) => r.json())) as { data: { id: string; status: string }[]; nextCursor: string | null };
      runs.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor);
  }
  if (runs.every((r) => r.status === 'completed') || Date.now() > drainBy) break;
  await new Promise((r) => setTimeout(r, 2000));
}
for (const s of streams) s.abort();
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
await db.drop();

const ids = new Set(runs.map((r) => r.id));
const lost = [...started.keys()].filter((id) => !ids.has(id)).length;
const duplicated = [...started.values()].filter((n) => n > 1).length + (runs.length - ids.size);
const unfinished = runs.filter((r) => r.status !== 'completed').length;
const fivexx = [...statuses.entries()].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
const window = (from: number, to: number) =>
  memory.filter((m) => m.at - startedAt >= from * 1000 && m.at - startedAt < to * 1000);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const first = window(0, 10);
const last = window(DURATION_S - 10, DURATION_S);
const heapFirst = mean(first.map((m) => m.heap));
const heapLast = mean(last.map((m) => m.heap));
const rssFirst = mean(first.map((m) => m.rss));
const rssLast = mean(last.map((m) => m.rss));

console.log(
  `load (${db.label}, ${os.cpus().length} cores, ${CONNECTIONS} connections, ${(loadMs / 1000).toFixed(0)} s, ${tenants.length} tenants, ${streams.length} streams)`,
);
console.log(
  `  requests        ${result.requests.total} (${result.requests.average.toFixed(0)}/s mean), latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`,
);
console.log(`  status codes    ${JSON.stringify(Object.fromEntries([...statuses.entries()].sort()))}`);
console.log(`  5xx             ${fivexx}`);
console.log(
  `  starts accepted ${started.size}; runs ${runs.length}; lost ${lost}; duplicated ${duplicated}; unfinished ${unfinished}`,
);
console.log(`  stream events   ${streamEvents}`);
console.log(
  `  heap used       first 10 s ${mb(heapFirst)}, last 10 s ${mb(heapLast)} (${((heapLast / heapFirst - 1) * 100).toFixed(0)}%)`,
);
console.log(
  `  rss             first 10 s ${mb(rssFirst)}, last 10 s ${mb(rssLast)} (${((rssLast / rssFirst - 1) * 100).toFixed(0)}%)`,
);
console.log(
  `  heap retained   after a full GC at 10 s ${mb(retained[0] ?? Number.NaN)}, at ${DURATION_S - 1} s ${mb(retained[1] ?? Number.NaN)} (${(((retained[1] ?? 0) / (retained[0] ?? 1) - 1) * 100).toFixed(0)}%)`,
);
// Flat: what survives a full collection at the end is within 20% (or 10 MB) of what did at 10 s.
const flat =
  retained.length === 2 && retained[1]! <= Math.max(retained[0]! * 1.2, retained[0]! + 10 * 1024 * 1024);
const ok = fivexx === 0 && lost === 0 && duplicated === 0 && unfinished === 0 && flat;
console.log(ok ? 'load: PASS' : 'load: FAIL');
process.exit(ok ? 0 : 1);
