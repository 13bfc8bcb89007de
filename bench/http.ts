// HTTP plumbing of the benchmark: servers in child processes (so their memory is their own) and
// autocannon runs that keep every response time, since autocannon's summary has no p95.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import autocannon from 'autocannon';
import { onInterrupt, quantile, round } from './lib.ts';

export type Child = {
  url: string;
  pid: number;
  process: ChildProcess;
  lines: Interface;
  /** Asks the server for a full collection and waits for its answer (bench/server.ts only). */
  gc(): Promise<void>;
  stop(): Promise<void>;
};

export async function spawnServer(script: string, env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, ['--expose-gc', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onInterrupt(() => child.kill('SIGTERM'));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening`)));
  });
  const { url } = JSON.parse(first) as { url: string };
  return {
    url,
    pid: child.pid!,
    process: child,
    lines,
    async gc() {
      const answered = new Promise<void>((resolve) => {
        const onLine = (line: string) => {
          if (line.includes('"gc"')) {
            lines.off('line', onLine);
            resolve();
          }
        };
        lines.on('line', onLine);
      });
      child.kill('SIGUSR2');
      await answered;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export type Request = { method?: string; path: string; headers?: Record<string, string>; body?: string };

export type Measured = {
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  ok: number;
  errors: number;
  /** Mean size of a successful response, a check that a page of runs came back. */
  bytes: number;
};

export type Load = {
  url: string;
  connections: number;
  seconds: number;
  /** One fixed request, or a function building each request (e.g. a start with a new identity). */
  request: Request | (() => Request);
};

/** Runs autocannon; `stop` (when given) ends the run early, e.g. when pruning is over. */
export function cannon(load: Load): { done: Promise<Measured>; stop(): void } {
  const times: number[] = [];
  let ok = 0;
  let errors = 0;
  let bytes = 0;
  const next = typeof load.request === 'function' ? load.request : null;
  const fixed = typeof load.request === 'function' ? null : load.request;
  const t0 = performance.now();
  let tracker: { stop(): void; on(event: string, fn: (...args: any[]) => void): void } | null = null;
  const done = new Promise<Measured>((resolve, reject) => {
    tracker = autocannon(
      {
        url: load.url,
        connections: load.connections,
        duration: load.seconds,
        requests: [
          fixed
            ? {
                method: fixed.method ?? 'GET',
                path: fixed.path,
                headers: fixed.headers ?? {},
                body: fixed.body,
              }
            : {
                setupRequest(req: Record<string, unknown>) {
                  const r = next!();
                  return {
                    ...req,
                    method: r.method ?? 'GET',
                    path: r.path,
                    headers: r.headers ?? {},
                    body: r.body,
                  };
                },
              },
        ],
      },
      (err: Error | null) => {
        if (err) return reject(err);
        const seconds = (performance.now() - t0) / 1000;
        resolve({
          rps: round(ok / seconds, 1),
          p50: round(quantile(times, 0.5), 2),
          p95: round(quantile(times, 0.95), 2),
          p99: round(quantile(times, 0.99), 2),
          ok,
          errors,
          bytes: ok ? Math.round(bytes / ok) : 0,
        });
      },
    );
    tracker!.on('response', (_client: unknown, status: number, size: number, ms: number) => {
      if (status >= 200 && status < 300) {
        ok++;
        bytes += size;
        times.push(ms);
      } else errors++;
    });
    tracker!.on('reqError', () => {
      errors++;
    });
  });
  return { done, stop: () => tracker?.stop() };
}

export const measure = (load: Load) => cannon(load).done;

export const fmt = (m: Measured) =>
  m.ok === 0
    ? `no response completed within the window${m.errors ? ` (${m.errors} errors)` : ''}`
    : `${m.rps.toFixed(0).padStart(6)} req/s  p50 ${m.p50.toFixed(1)}  p95 ${m.p95.toFixed(1)}  p99 ${m.p99.toFixed(1)} ms  ${(m.bytes / 1024).toFixed(1)} kB${m.errors ? `  (${m.errors} errors)` : ''}`;
