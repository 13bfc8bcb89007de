import { isUuid } from '../../shared/ids.ts';
import {
  ApiClient,
  CLIENT_OPTIONS,
  CLIENT_USAGE,
  type Paths,
  resolveTenant,
  tenantOfRun,
  tenantPath,
} from '../api-client.ts';
import { type Command, type CommandContext, type OptionValues, UsageError } from '../command.ts';
import { duration, parseInputs, table } from '../format.ts';
import {
  OUTPUT_OPTIONS,
  paint,
  paintStatus,
  printStructured,
  type Style,
  safeText,
  styleFor,
  timeText,
} from '../output.ts';
import { LOG_OPTIONS, printRunLog } from '../run-events.ts';

/**
 * `opsledger runs …`: list, view, start, watch, cancel and retry runs on a server over its HTTP API,
 * in the manner of `gh run`. Exit codes as EXIT (command.ts): 0 done, 1 failed (the server's
 * problem in one line, or a watched run that did not succeed), 2 bad usage, 3 not found, 4 auth.
 */

export { CLIENT_OPTIONS };

export type Run =
  Paths['/api/v1/tenants/{tenantId}/operations/{runId}']['get']['responses'][200]['content']['application/json'];
type ListQuery = NonNullable<Paths['/api/v1/tenants/{tenantId}/operations']['get']['parameters']['query']>;

/** Every field of a run, for --json FIELDS. */
export const RUN_FIELDS = [
  'id',
  'tenantId',
  'type',
  'typeLabel',
  'status',
  'outcome',
  'initiator',
  'summaryCounts',
  'failureSummary',
  'context',
  'source',
  'retryOf',
  'attempts',
  'createdAt',
  'startedAt',
  'completedAt',
  'durationMs',
] as const satisfies readonly (keyof Run)[];

const runId = (positionals: string[] = []) => {
  const id = positionals[0] ?? '';
  if (!isUuid(id)) throw new UsageError(`"${safeText(id).slice(0, 60)}" is not a run id`);
  return id.toLowerCase();
};

/** The run a command names, found in whichever of the caller's tenants holds it. */
export async function oneRun(values: OptionValues, positionals?: string[]) {
  const id = runId(positionals);
  const client = ApiClient.fromOptions(values);
  const tenantId = await tenantOfRun(client, values, id);
  const path = { tenantId, runId: id };
  const read = () =>
    client.call(client.api.GET('/api/v1/tenants/{tenantId}/operations/{runId}', { params: { path } }));
  return { client, id, tenantId, path, read };
}

export const statusOf = (run: Pick<Run, 'status' | 'outcome'>) =>
  run.status === 'completed' ? run.outcome : run.status;

const initiatorText = (run: Pick<Run, 'initiator'>) =>
  `${run.initiator.kind}${run.initiator.name ? `: ${run.initiator.name}` : ''}`;

function printRun(ctx: CommandContext, style: Style, run: Run) {
  const lines: [string, string][] = [
    ['id', run.id],
    ['title', safeText(run.title)],
    ['number', `#${run.number}`],
    ['type', safeText(run.type)],
    [
      'status',
      `${safeText(run.status)}${run.status === 'completed' ? `, ${paintStatus(style, run.outcome)}` : ''}`,
    ],
    ['initiator', safeText(initiatorText(run))],
    ['created', timeText(style, run.createdAt)],
    ['started', timeText(style, run.startedAt)],
    ['completed', timeText(style, run.completedAt)],
    ['duration', duration(run.durationMs)],
    ['attempts', String(run.attempts)],
    [
      'counts',
      Object.entries(run.summaryCounts)
        .map(([k, v]) => `${safeText(k)}=${v}`)
        .join(' '),
    ],
    ['inputs', safeText(JSON.stringify((run.context as { inputs?: unknown }).inputs ?? {}))],
  ];
  if (run.retryOf) lines.push(['retry of', run.retryOf]);
  for (const [k, v] of lines) if (v) ctx.out(`${k.padEnd(10)} ${v}`);
  if (run.failureSummary.length > 0) {
    ctx.out(paint(style, 'bold', 'failures'));
    for (const f of run.failureSummary) ctx.out(`  ${safeText(f.code)}: ${safeText(f.message)}`);
  }
}

const LIST_FILTERS = ['type', 'status', 'outcome', 'initiator', 'since', 'until', 'q', 'limit'] as const;

export const runsListCommand: Command = {
  name: 'runs list',
  summary: 'Lists runs of a tenant, newest first',
  usage: `runs list [--status S] [--outcome O] [--type T] [--limit N] [--json [FIELDS]] ${CLIENT_USAGE}`,
  description:
    'On a terminal times read as ages ("5 minutes ago") and statuses in colour; in a pipe, UTC times and plain text.',
  examples: [
    'runs list --status running',
    'runs list --outcome failed --since 2026-01-01T00:00:00Z',
    'runs list --json id,status,typeLabel',
    "runs list --template '{{.id}}\\t{{.status}}'",
  ],
  options: {
    ...CLIENT_OPTIONS,
    type: { type: 'string', value: 'TYPE', description: 'Only runs of this operation type' },
    status: { type: 'string', value: 'STATUS', description: 'queued, running or completed' },
    outcome: {
      type: 'string',
      value: 'OUTCOME',
      description: 'pending, succeeded, partially_succeeded, failed or cancelled',
    },
    initiator: { type: 'string', value: 'KIND', description: 'user, api, schedule or system' },
    since: { type: 'string', value: 'ISO', description: 'Created at or after this time' },
    until: { type: 'string', value: 'ISO', description: 'Created before this time' },
    q: { type: 'string', value: 'ID', description: 'A run id or the start of one' },
    limit: { type: 'string', value: 'N', description: 'At most this many runs (default 50)' },
    ...OUTPUT_OPTIONS,
  },
  async run(ctx, values) {
    const client = ApiClient.fromOptions(values);
    const tenantId = await resolveTenant(client, values);
    const query: Record<string, string> = {};
    for (const key of LIST_FILTERS) if (typeof values[key] === 'string') query[key] = values[key];
    const page = await client.call(
      client.api.GET('/api/v1/tenants/{tenantId}/operations', {
        params: { path: { tenantId }, query: query as ListQuery },
      }),
    );
    if (printStructured(ctx.out, values, page.data, RUN_FIELDS)) return 0;
    if (page.data.length === 0) {
      ctx.out('no runs match');
      return 0;
    }
    const style = styleFor(Boolean(ctx.interactive));
    ctx.out(
      table(
        ['ID', 'STATUS', 'TITLE', 'TYPE', 'INITIATOR', 'DURATION', style.tty ? 'AGE' : 'CREATED'],
        page.data.map((r) => [
          r.id,
          paintStatus(style, statusOf(r)),
          safeText(r.title).slice(0, 60),
          safeText(r.type),
          safeText(initiatorText(r)).slice(0, 40),
          duration(r.durationMs),
          timeText(style, r.createdAt),
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
  usage: `runs view ID [--json [FIELDS]] [--log] ${CLIENT_USAGE}`,
  examples: [
    'runs view 0193e5a4-7c1f-7b52-9d0e-4f2a1c3b5d6e',
    'runs view ID --json status,outcome',
    'runs view ID --log',
  ],
  options: { ...CLIENT_OPTIONS, ...OUTPUT_OPTIONS, ...LOG_OPTIONS },
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals) {
    const { client, id, tenantId, read } = await oneRun(values, positionals);
    const run = await read();
    if (!printStructured(ctx.out, values, run, RUN_FIELDS)) {
      printRun(ctx, styleFor(Boolean(ctx.interactive)), run);
      if (values.log) await printRunLog(ctx, client, `${tenantPath(tenantId)}/operations`, id);
    }
    return 0;
  },
};

export const runsStartCommand: Command = {
  name: 'runs start',
  summary: 'Starts a run of a type (or gets the identical active one) and prints it',
  usage: `runs start TYPE [--input key=value …] [--json [FIELDS]] ${CLIENT_USAGE}`,
  description:
    'An input value that reads as JSON (a number, true, false, null, an array or an object) is sent as that; quote it to send a string: key=\'"123"\'.',
  examples: [
    'runs start inventory.sync',
    'runs start drift.generate --input baselineId=0193e5a4-7c1f-7b52-9d0e-4f2a1c3b5d6e',
  ],
  options: {
    ...CLIENT_OPTIONS,
    input: {
      type: 'string',
      multiple: true,
      value: 'KEY=VALUE',
      description: 'An input of the run (repeatable)',
    },
    ...OUTPUT_OPTIONS,
  },
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals = []) {
    let inputs: Record<string, unknown>;
    try {
      inputs = parseInputs((values.input as string[] | undefined) ?? []);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const client = ApiClient.fromOptions(values);
    const tenantId = await resolveTenant(client, values);
    const body = await client.call(
      client.api.POST('/api/v1/tenants/{tenantId}/operations', {
        params: { path: { tenantId } },
        body: { type: positionals[0] ?? '', inputs },
      }),
    );
    if (printStructured(ctx.out, values, body.run, RUN_FIELDS)) return 0;
    ctx.out(
      body.created
        ? `started run ${body.run.id} (${safeText(body.run.type)}, ${statusOf(body.run)})`
        : `deduplicated: run ${body.run.id} is identical and already ${body.run.status}`,
    );
    return 0;
  },
};
