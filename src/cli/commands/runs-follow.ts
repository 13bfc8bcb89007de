import { setTimeout as delay } from 'node:timers/promises';
import { CLIENT_OPTIONS, CLIENT_USAGE, tenantPath } from '../api-client.ts';
import type { Command } from '../command.ts';
import { paintStatus, safeText, styleFor } from '../output.ts';
import { followRunEvents } from '../run-events.ts';
import { oneRun, type Run, statusOf } from './runs.ts';

/** `opsledger runs watch|cancel|retry`: following and steering one run. */

export const runsCancelCommand: Command = {
  name: 'runs cancel',
  summary: 'Cancels a queued run, or asks a running one to stop',
  usage: `runs cancel ID ${CLIENT_USAGE}`,
  examples: ['runs cancel 0193e5a4-7c1f-7b52-9d0e-4f2a1c3b5d6e'],
  options: CLIENT_OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals) {
    const { client, id, path } = await oneRun(values, positionals);
    const body = await client.call(
      client.api.POST('/api/v1/tenants/{tenantId}/operations/{runId}/cancel', { params: { path } }),
    );
    ctx.out(
      body.run.status === 'completed'
        ? `cancelled run ${id}`
        : `cancellation requested: run ${id} stops at its next check`,
    );
    return 0;
  },
};

export const runsRetryCommand: Command = {
  name: 'runs retry',
  summary: 'Starts a new run with the inputs of a failed, partial or cancelled one',
  usage: `runs retry ID ${CLIENT_USAGE}`,
  examples: ['runs retry 0193e5a4-7c1f-7b52-9d0e-4f2a1c3b5d6e && opsledger runs watch NEW_ID'],
  options: CLIENT_OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals) {
    const { client, id, path } = await oneRun(values, positionals);
    const body = await client.call(
      client.api.POST('/api/v1/tenants/{tenantId}/operations/{runId}/retry', { params: { path } }),
    );
    ctx.out(`started run ${body.run.id} (retry of ${id})`);
    return 0;
  },
};

/** How often watch re-reads the run in case the stream missed a change (it never relies on it). */
const WATCH_RECHECK_MS = 10_000;

export const runsWatchCommand: Command = {
  name: 'runs watch',
  summary: 'Follows a run live until it completes; exits 0 if it succeeded, 1 otherwise',
  usage: `runs watch ID ${CLIENT_USAGE}`,
  description:
    'On a terminal the status line is rewritten in place; in a pipe each change is its own line. Ctrl-C stops watching (the run carries on).',
  examples: ['runs watch 0193e5a4-7c1f-7b52-9d0e-4f2a1c3b5d6e && echo done'],
  options: CLIENT_OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals) {
    const { client, id, tenantId, read } = await oneRun(values, positionals);
    const style = styleFor(Boolean(ctx.interactive));
    const abort = new AbortController();
    let last = '';
    let finish: (run: Run) => void = () => {};
    const completed = new Promise<Run>((resolve) => {
      finish = resolve;
    });
    const show = (run: Run) => {
      const counts = Object.entries(run.summaryCounts)
        .map(([k, v]) => `${safeText(k)}=${v}`)
        .join(' ');
      const line = `${safeText(run.type)} ${run.id}: ${paintStatus(style, statusOf(run))}${run.attempts > 1 ? ` (attempt ${run.attempts})` : ''}${counts ? ` ${counts}` : ''}`;
      if (line !== last) {
        // On a terminal one line is rewritten in place; in a pipe each change is its own line.
        if (ctx.interactive && ctx.write) ctx.write(`\r\x1b[2K${line}`);
        else ctx.out(line);
        last = line;
      }
      if (run.status === 'completed') finish(run);
    };
    const recheck = async () => show(await read());
    // The run's events, as they are written, each on its own line.
    const events = await followRunEvents(
      client,
      `${tenantPath(tenantId)}/operations`,
      id,
      (line) => (ctx.interactive && ctx.write ? ctx.write(`\r\x1b[2K${line}\n${last}`) : ctx.out(line)),
      abort.signal,
    );
    // Subscribe first, then read the run: a change between the two is then never missed.
    const stream = await client.stream(
      `${tenantPath(tenantId)}/operations/stream`,
      (event, data) => {
        if (event === 'run') {
          const run = JSON.parse(data) as Run;
          if (run.id === id) show(run);
        } else if (event === 'reload') {
          // Too many changes at once to send one by one: read the run instead.
          recheck().catch(() => {});
        }
      },
      abort.signal,
    );
    const timer = setInterval(() => recheck().catch(() => {}), WATCH_RECHECK_MS);
    try {
      await recheck();
      const run = await Promise.race([
        completed,
        stream.ended.then(async () => {
          // The server closed the stream (it is stopping): one last look decides.
          const final = await read();
          if (final.status !== 'completed')
            throw new Error('the server closed the stream before the run completed');
          return final;
        }),
        ctx.stopSignal.then(() => null),
      ]);
      // The last events (the run's completion) are written as it completes: let them arrive.
      if (run) await Promise.race([events.completed, events.ended, delay(3000, undefined, { ref: false })]);
      if (ctx.interactive && ctx.write) ctx.write('\n');
      if (!run) {
        process.stderr.write(`stopped watching; run ${id} carries on\n`);
        return 1;
      }
      if (run.failureSummary.length > 0 && run.outcome !== 'succeeded') {
        for (const f of run.failureSummary.slice(-3))
          ctx.out(`  ${safeText(f.code)}: ${safeText(f.message)}`);
      }
      return run.outcome === 'succeeded' ? 0 : 1;
    } finally {
      clearInterval(timer);
      abort.abort();
    }
  },
};
