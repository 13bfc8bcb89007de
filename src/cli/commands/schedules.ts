import { isUuid } from '../../shared/ids.ts';
import { ApiClient, CLIENT_OPTIONS, CLIENT_USAGE, type Paths, resolveTenant } from '../api-client.ts';
import { type Command, type OptionValues, UsageError } from '../command.ts';
import { parseInputs, table } from '../format.ts';
import {
  OUTPUT_OPTIONS,
  paintStatus,
  printStructured,
  type Style,
  safeText,
  styleFor,
  timeText,
} from '../output.ts';

/** `opsledger schedules …`: a tenant's schedules on a server, over its HTTP API. */

type Schedule =
  Paths['/api/v1/tenants/{tenantId}/schedules/{scheduleId}']['get']['responses'][200]['content']['application/json'];

const SCHEDULE_FIELDS = [
  'id',
  'tenantId',
  'name',
  'type',
  'typeLabel',
  'cron',
  'timezone',
  'missed',
  'inputs',
  'status',
  'nextFireAt',
  'lastFiredAt',
  'lastRunId',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof Schedule)[];

async function target(values: OptionValues) {
  const client = ApiClient.fromOptions(values);
  const tenantId = await resolveTenant(client, values);
  return { client, tenantId };
}

const scheduleId = (positionals: string[] = []) => {
  const id = positionals[0] ?? '';
  if (!isUuid(id)) throw new UsageError(`"${safeText(id).slice(0, 60)}" is not a schedule id`);
  return id.toLowerCase();
};

const describeSchedule = (style: Style, s: Schedule) =>
  `schedule ${s.id} "${safeText(s.name)}": ${safeText(s.type)} on "${safeText(s.cron)}" (${safeText(s.timezone)}), ${paintStatus(style, s.status)}${s.pausedReason ? ` (${safeText(s.pausedReason)})` : ''}${s.nextFireAt ? `, next ${timeText(style, s.nextFireAt)}` : ''}${s.lastError ? `; last firing could not start: ${safeText(s.lastError.message)}` : ''}`;

export const schedulesListCommand: Command = {
  name: 'schedules list',
  summary: "Lists a tenant's schedules",
  usage: `schedules list [--json [FIELDS]] ${CLIENT_USAGE}`,
  examples: ['schedules list', 'schedules list --json id,name,nextFireAt'],
  options: { ...CLIENT_OPTIONS, ...OUTPUT_OPTIONS },
  async run(ctx, values) {
    const { client, tenantId } = await target(values);
    const { data } = await client.call(
      client.api.GET('/api/v1/tenants/{tenantId}/schedules', { params: { path: { tenantId } } }),
    );
    if (printStructured(ctx.out, values, data, SCHEDULE_FIELDS)) return 0;
    if (data.length === 0) {
      ctx.out('no schedules');
      return 0;
    }
    const style = styleFor(Boolean(ctx.interactive));
    ctx.out(
      table(
        ['ID', 'NAME', 'TYPE', 'CRON', 'TIME ZONE', 'STATUS', 'NEXT', 'LAST RUN'],
        data.map((s) => [
          s.id,
          safeText(s.name),
          safeText(s.type),
          safeText(s.cron),
          safeText(s.timezone),
          paintStatus(style, s.status),
          timeText(style, s.nextFireAt),
          s.lastRunId ?? '',
        ]),
      ),
    );
    return 0;
  },
};

export const schedulesCreateCommand: Command = {
  name: 'schedules create',
  summary: 'Creates a schedule that starts a run of a type on a cron expression',
  usage: `schedules create NAME --type TYPE --cron "EXPR" [--timezone TZ] [--missed once|skip] [--input key=value …] [--json [FIELDS]] ${CLIENT_USAGE}`,
  examples: [
    `schedules create "Nightly inventory" --type inventory.sync --cron "0 2 * * *" --timezone Europe/Paris`,
  ],
  options: {
    ...CLIENT_OPTIONS,
    type: { type: 'string', value: 'TYPE', description: 'The operation type each firing starts' },
    cron: { type: 'string', value: 'EXPR', description: 'When it fires (five-field cron)' },
    timezone: { type: 'string', value: 'TZ', description: 'Time zone of the cron expression (default UTC)' },
    missed: {
      type: 'string',
      value: 'once|skip',
      description: 'Firings missed while down: run once, or skip',
    },
    input: {
      type: 'string',
      multiple: true,
      value: 'KEY=VALUE',
      description: 'An input of each run (repeatable)',
    },
    ...OUTPUT_OPTIONS,
  },
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals = []) {
    if (typeof values.type !== 'string') throw new UsageError('--type is required');
    if (typeof values.cron !== 'string') throw new UsageError('--cron is required');
    if (values.missed !== undefined && values.missed !== 'once' && values.missed !== 'skip')
      throw new UsageError('--missed is once or skip');
    let inputs: Record<string, unknown>;
    try {
      inputs = parseInputs((values.input as string[] | undefined) ?? []);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const { client, tenantId } = await target(values);
    const body = await client.call(
      client.api.POST('/api/v1/tenants/{tenantId}/schedules', {
        params: { path: { tenantId } },
        body: {
          name: positionals[0] ?? '',
          type: values.type,
          cron: values.cron,
          inputs,
          ...(typeof values.timezone === 'string' ? { timezone: values.timezone } : {}),
          ...(typeof values.missed === 'string' ? { missed: values.missed } : {}),
        },
      }),
    );
    if (!printStructured(ctx.out, values, body, SCHEDULE_FIELDS)) {
      ctx.out(`created ${describeSchedule(styleFor(Boolean(ctx.interactive)), body)}`);
    }
    return 0;
  },
};

function action(verb: 'pause' | 'resume' | 'delete', summary: string): Command {
  return {
    name: `schedules ${verb}`,
    summary,
    usage: `schedules ${verb} ID ${CLIENT_USAGE}`,
    examples: [`schedules ${verb} 0193e5a4-7c1f-7b52-9d0e-4f2a1c3b5d6e`],
    options: CLIENT_OPTIONS,
    positionals: { min: 1, max: 1 },
    async run(ctx, values, positionals) {
      const id = scheduleId(positionals);
      const { client, tenantId } = await target(values);
      const path = { tenantId, scheduleId: id };
      if (verb === 'delete') {
        await client.call(
          client.api.DELETE('/api/v1/tenants/{tenantId}/schedules/{scheduleId}', { params: { path } }),
        );
        ctx.out(`deleted schedule ${id}`);
      } else {
        const body = await client.call(
          verb === 'pause'
            ? client.api.POST('/api/v1/tenants/{tenantId}/schedules/{scheduleId}/pause', { params: { path } })
            : client.api.POST('/api/v1/tenants/{tenantId}/schedules/{scheduleId}/resume', {
                params: { path },
              }),
        );
        ctx.out(describeSchedule(styleFor(Boolean(ctx.interactive)), body));
      }
      return 0;
    },
  };
}

export const scheduleCommands: Command[] = [
  schedulesListCommand,
  schedulesCreateCommand,
  action('pause', 'Pauses a schedule'),
  action('resume', 'Resumes a paused schedule from its next firing after now'),
  action('delete', 'Deletes a schedule (its runs stay)'),
];
