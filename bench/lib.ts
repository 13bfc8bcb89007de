// Small helpers the benchmark phases share: statistics, progress on stderr, scratch databases on a
// PostgreSQL server, and the resident memory of a child process.
import fs from 'node:fs';
import os from 'node:os';
import pg from 'pg';

export const median = (xs: number[]): number => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
};

/** The q-quantile (0..1) of the samples, nearest rank. */
export const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

export const round = (n: number, digits = 1): number =>
  Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n;

const started = performance.now();
/** Progress and phase headings go to stderr, so stdout carries only results (and the JSON line). */
export function log(message: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${s}s] ${message}\n`);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 600_000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await sleep(everyMs);
  }
}

/** Runs `fn(i)` for i in 0..n-1 with at most `width` in flight. */
export async function pool(n: number, width: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const scratch = new Map<string, string>();
const interrupted: (() => void)[] = [];
/** Something to undo if the benchmark is interrupted (a child server to stop). */
export const onInterrupt = (fn: () => void) => interrupted.push(fn);
// An interrupted benchmark still stops its servers and drops the databases it created.
process.once('SIGINT', async () => {
  for (const fn of interrupted) fn();
  for (const [name, adminUrl] of scratch) {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect().then(
      () => admin.query(`drop database if exists ${name} with (force)`),
      () => {},
    );
    await admin.end().catch(() => {});
  }
  process.exit(130);
});

/** A database of its own on the server named by `adminUrl`, dropped when `fn` settles. */
export async function withScratchDatabase<T>(
  adminUrl: string,
  prefix: string,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  const name = `${prefix}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  scratch.set(name, adminUrl);
  try {
    await admin.query(`create database ${name}`);
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    try {
      return await fn(u.toString());
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
    }
  } finally {
    scratch.delete(name);
    await admin.end();
  }
}

/** Resident memory of a process in MB, from /proc (Linux), or NaN where it cannot be read. */
export function rssMb(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}

/** Samples a process's resident memory until stopped; returns the peak. */
export function sampleRss(pid: number, everyMs = 250): { stop(): number } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMb(pid));
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMb(pid));
    },
  };
}

export function machine() {
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGb: round(os.totalmem() / 1024 ** 3, 1),
    loadAverage: os.loadavg().map((n) => round(n, 2)),
    node: process.version,
  };
}
