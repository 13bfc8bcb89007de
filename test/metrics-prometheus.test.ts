import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedgerMetrics, TERMINAL_OUTCOMES } from '../src/ledger/metrics.ts';
import type { RunEvents } from '../src/ledger/run-events.ts';
import { type ApiHarness, startApiHarness } from './helpers/api-app.ts';
import { type HandlerLog, testTaskType } from './helpers/test-types.ts';

/**
 * /metrics by Prometheus' rules, checked by Prometheus' own linter (`promtool check metrics`,
 * Debian's `prometheus` package) on what a real server serves, before its first run and after.
 */

function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(text);
  });
}

const names = (text: string) =>
  new Set(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.replace(/[{ ].*$/, '')),
  );
const types = (text: string) =>
  new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const));

const log: HandlerLog = { started: [], aborted: [] };
let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness({ definitions: [testTaskType(log)] });
});
afterAll(async () => {
  await h?.stop();
});

describe('/metrics by Prometheus rules', () => {
  it('passes promtool before the first run, with every series of every known type at zero', async () => {
    const text = (await h.app.inject({ url: '/metrics' })).body;
    const lint = await promtool(text);
    expect(lint.output).toBe('');
    expect(lint.code).toBe(0);
    expect(text).toMatch(/^opsledger_runs_started_total\{type="test\.task"\} 0$/m);
    for (const outcome of TERMINAL_OUTCOMES) {
      expect(text).toMatch(
        new RegExp(`^opsledger_runs_completed_total\\{type="test\\.task",outcome="${outcome}"\\} 0$`, 'm'),
      );
      expect(text).toMatch(
        new RegExp(
          `^opsledger_run_duration_seconds_count\\{type="test\\.task",outcome="${outcome}"\\} 0$`,
          'm',
        ),
      );
    }
    expect(text).toMatch(/^opsledger_collector_up\{collector="queue_depth"\} 1$/m);
    expect(text).toMatch(/^opsledger_queue_depth \d+$/m);
    // The standard metrics carry their standard names.
    const all = names(text);
    expect(all).toContain('process_cpu_seconds_total');
    expect(all).toContain('process_resident_memory_bytes');
    expect(all).toContain('nodejs_eventloop_lag_seconds');
    expect(
      [...all].filter((n) => n.startsWith('opsledger_process_') || n.startsWith('opsledger_nodejs_')),
    ).toEqual([]);
    // `_total` only on counters, and every counter ends in it.
    for (const [name, type] of types(text)) {
      if (type === 'counter') expect(name, name).toMatch(/_total$/);
      else expect(name, name).not.toMatch(/_total$/);
    }
  });

  it('still passes after runs, with their counts', async () => {
    const tenant = await h.ledger.createTenant('Metered');
    const user = await h.user('meter', { [tenant]: 'operator' });
    const res = await h.app.inject({
      method: 'POST',
      url: `/api/v1/tenants/${tenant}/operations`,
      headers: h.bearer(user),
      payload: { type: 'test.task', inputs: { key: 'metered' } },
    });
    await h.ledger.waitForRun(tenant, res.json().run.id, (r) => r.status === 'completed');
    const text = (await h.app.inject({ url: '/metrics' })).body;
    expect((await promtool(text)).code).toBe(0);
    expect(text).toMatch(/^opsledger_runs_completed_total\{type="test\.task",outcome="succeeded"\} [1-9]/m);
    expect(text).not.toContain(tenant);
  });
});

describe('a collection that fails', () => {
  it('is explicit: collector_up 0 and no false 0, for any process building the ledger metrics', async () => {
    const metrics = createLedgerMetrics({
      events: new EventEmitter() as unknown as RunEvents,
      types: () => ['a.type'],
      activeRunCounts: () => Promise.reject(new Error('database unreachable')),
      queueDepth: () => Promise.reject(new Error('queue monitor down')),
    });
    try {
      const text = await metrics.registry.metrics();
      expect((await promtool(text)).code).toBe(0);
      expect(text).toMatch(/^opsledger_collector_up\{collector="queue_depth"\} 0$/m);
      expect(text).toMatch(/^opsledger_collector_up\{collector="runs_active"\} 0$/m);
      expect(text).not.toMatch(/^opsledger_queue_depth 0$/m);
      expect(text).toMatch(/^opsledger_queue_depth nan$/im);
      expect(text).not.toMatch(/^opsledger_runs_active\{/m);
      expect(text).toMatch(/^opsledger_runs_started_total\{type="a\.type"\} 0$/m);
    } finally {
      metrics.close();
    }
  });
});
