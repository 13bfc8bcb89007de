import type { Run } from '../../ledger/run.ts';
import { isUuid } from '../../shared/ids.ts';
import { ApiClient, resolveTenant, tenantOfRun, tenantPath } from '../api-client.ts';
import { type Command, type CommandContext, type OptionValues, UsageError } from '../command.ts';
import { duration, parseInputs, table, when } from '../format.ts';
import { followRunEvents, LOG_OPTIONS, printRunLog } from '../run-events.ts';

/**
 * `opsledger runs …`: list, view, start, watch, cancel and retry runs on a server over its HTTP API,
 * in the manner of `gh run`. Exit codes: 0 done, 1 failed (the server's problem in one line, or a
 * watched run that did not succeed), 2 bad usage.
 */

export const CLIENT_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  tenant: { type: 'string' },
} as const;
const CLIENT_USAGE = '[--url URL] [--token TOKEN] [--tenant ID]';

const runId = (positionals: string[] = []) => {
  const id = positionals[0] ?? '';
  if (!isUuid(id)) throw new UsageError(`"${id.slice(0, 60)}" is not a run id`);
  return id.toLowerCase();
};

async function oneRun(values: OptionValues, positionals?: string[]) {
  const id = runId(positionals);
  const client = ApiClient.fromOptions(values);
  const tenant = await tenantOfRun(client, values, id);
  return { client, id, base: `${tenantPath(tenant)}/operations`, tenant };
}

const statusOf = (run: Run) => (run.status === 'completed' ? run.outcome : run.status);

function printRun(ctx: CommandContext, run: Run) {
  const lines: [string, string][] = [
    ['id', run.id],
    ['type', `${run.type} (${run.typeLabel})`],
    ['status', `${run.status}${run.status === 'completed' ? `, ${run.outcome}` : ''}`],
    ['initiator', `${run.initiator.kind}${run.initiator.name ? `: ${run.initiator.name}` : ''}`],
    ['created', when(run.createdAt)],
    ['started', when(run.startedAt)],
    ['completed', when(run.completedAt)],
    ['duration', duration(run.durationMs)],
    ['attempts', String(run.attempts)],
    [
      'counts',
      Object.entries(run.summaryCounts)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ],
    ['inputs', JSON.stringify((run.context as { inputs?: unknown }).inputs ?? {})],
  ];
  if (run.retryOf) lines.push(['retry of', run.retryOf]);
  for (const [k, v] of lines) if (v) ctx.out(`${k.padEnd(10)} ${v}`);
  if (run.failureSummary.length > 0) {
    ctx.out('failures');
    for (const f of run.failureSummary) ctx.out(`  ${f.code}: ${f.message}`);
  }
}

export const runsListCommand: Command = {
  name: 'runs list',
  summary: 'Lists runs of a tenant, newest first (filters as the API; --json for the raw runs)',
  usage: `runs list ${CLIENT_USAGE} [--type T] [--status S] [--outcome O] [--initiator I] [--since ISO] [--until ISO] [--q ID] [--limit N] [--json]`,
  options: {
    ...CLIENT_OPTIONS,
    type: { type: 'string' },
    status: { type: 'string' },
    outcome: { type: 'string' },
    initiator: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    q: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(ctx, values) {
    const client = ApiClient.fromOptions(values);
    const tenant = await resolveTenant(client, values);
    const query = new URLSearchParams();
    for (const key of ['type', 'status', 'outcome', 'initiator', 'since', 'until', 'q', 'limit'])
      if (typeof values[key] === 'string') query.set(key, values[key]);
    const page = await client.get<{ data: Run[]; nextCursor: string | null }>(
      `${tenantPath(tenant)}/operations${query.size ? `?${query}` : ''}`,
    );
    if (values.json) {
      ctx.out(JSON.stringify(page.data, null, 2));
      return 0;
    }
    if (page.data.length === 0) {
      ctx.out('no runs match');
      return 0;
    }
    ctx.out(
      table(
        ['ID', 'TYPE', 'STATUS', 'INITIATOR', 'CREATED', 'DURATION'],
        page.data.map((r) => [
          r.id,
          r.type,
          statusOf(r),
          `${r.initiator.kind}${r.initiator.name ? `: ${r.initiator.name}` : ''}`.slice(0, 40),
          when(r.createdAt),
          duration(r.durationMs),
        ]),
      ),
    );
    if (page.nextCursor) ctx.out('(more runs: narrow the filters or raise --limit)');
    return 0;
  },
};

export const runsViewCommand: Command = {
  name: 'runs view',
  summary: 'Shows one run: status, outcome, counts and failures (--log: and its events)',
  usage: `runs view ID ${CLIENT_USAGE} [--json] [--log]`,
  options: { ...CLIENT_OPTIONS, json: { type: 'boolean' }, ...LOG_OPTIONS },
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals) {
    const { client, id, base } = await oneRun(values, positionals);
    const run = await client.get<Run>(`${base}/${id}`);
    if (values.json) ctx.out(JSON.stringify(run, null, 2));
    else printRun(ctx, run);
    if (values.log && !values.json) await printRunLog(ctx, client, base, id);
    return 0;
  },
};

export const runsStartCommand: Command = {
  name: 'runs start',
  summary: 'Starts a run of a type (or gets the identical active one) and prints it',
  usage: `runs start TYPE [--input key=value …] ${CLIENT_USAGE} [--json]`,
  options: { ...CLIENT_OPTIONS, input: { type: 'string', multiple: true }, json: { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals = []) {
    let inputs: Record<string, unknown>;
    try {
      inputs = parseInputs((values.input as string[] | undefined) ?? []);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const client = ApiClient.fromOptions(values);
    const tenant = await resolveTenant(client, values);
    const { body } = await client.request<{ run: Run; created: boolean }>(
      'POST',
      `${tenantPath(tenant)}/operations`,
      { type: positionals[0], inputs },
    );
    if (values.json) {
      ctx.out(JSON.stringify(body, null, 2));
      return 0;
    }
    ctx.out(
      body.created
        ? `started run ${body.run.id} (${body.run.type}, ${statusOf(body.run)})`
        : `deduplicated: run ${body.run.id} is identical and already ${body.run.status}`,
    );
    return 0;
  },
};

export const runsCancelCommand: Command = {
  name: 'runs cancel',
  summary: 'Cancels a queued run, or asks a running one to stop',
  usage: `runs cancel ID ${CLIENT_USAGE}`,
  options: CLIENT_OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals) {
    const { client, id, base } = await oneRun(values, positionals);
    const { body } = await client.request<{ run: Run }>('POST', `${base}/${id}/cancel`);
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
  options: CLIENT_OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals) {
    const { client, id, base } = await oneRun(values, positionals);
    const { body } = await client.request<{ run: Run }>('POST', `${base}/${id}/retry`);
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
  options: CLIENT_OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals) {
    const { client, id, base } = await oneRun(values, positionals);
    const abort = new AbortController();
    let last = '';
    let finish: (run: Run) => void = () => {};
    const completed = new Promise<Run>((resolve) => {
      finish = resolve;
    });
    const show = (run: Run) => {
      const counts = Object.entries(run.summaryCounts)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      const line = `${run.type} ${run.id}: ${statusOf(run)}${run.attempts > 1 ? ` (attempt ${run.attempts})` : ''}${counts ? ` ${counts}` : ''}`;
      if (line !== last) {
        // On a terminal one line is rewritten in place; in a pipe each change is its own line.
        if (ctx.interactive && ctx.write) ctx.write(`\r\x1b[2K${line}`);
        else ctx.out(line);
        last = line;
      }
      if (run.status === 'completed') finish(run);
    };
    const recheck = async () => show(await client.get<Run>(`${base}/${id}`));
    // The run's events, as they are written, each on its own line.
    const events = await followRunEvents(
      client,
      base,
      id,
      (line) => (ctx.interactive && ctx.write ? ctx.write(`\r\x1b[2K${line}\n${last}`) : ctx.out(line)),
      abort.signal,
    );
    // Subscribe first, then read the run: a change between the two is then never missed.
    const stream = await client.stream(
      `${base}/stream`,
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
          const final = await client.get<Run>(`${base}/${id}`);
          if (final.status !== 'completed')
            throw new Error('the server closed the stream before the run completed');
          return final;
        }),
        ctx.stopSignal.then(() => null),
      ]);
      // The last events (the run's completion) are written as it completes: let them arrive.
      if (run) await Promise.race([events.completed, events.ended, new Promise((r) => setTimeout(r, 3000))]);
      if (ctx.interactive && ctx.write) ctx.write('\n');
      if (!run) {
        process.stderr.write(`stopped watching; run ${id} carries on\n`);
        return 1;
      }
      if (run.failureSummary.length > 0 && run.outcome !== 'succeeded') {
        for (const f of run.failureSummary.slice(-3)) ctx.out(`  ${f.code}: ${f.message}`);
      }
      return run.outcome === 'succeeded' ? 0 : 1;
    } finally {
      clearInterval(timer);
      abort.abort();
    }
  },
};

export const runsCommands: Command[] = [
  runsListCommand,
  runsViewCommand,
  runsStartCommand,
  runsWatchCommand,
  runsCancelCommand,
  runsRetryCommand,
];
