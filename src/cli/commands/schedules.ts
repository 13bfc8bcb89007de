import type { Schedule } from '../../ledger/schedules.ts';
import { isUuid } from '../../shared/ids.ts';
import { ApiClient, resolveTenant, tenantPath } from '../api-client.ts';
import { type Command, type OptionValues, UsageError } from '../command.ts';
import { parseInputs, table, when } from '../format.ts';
import { CLIENT_OPTIONS } from './runs.ts';

/** `opsledger schedules …`: a tenant's schedules on a server, over its HTTP API. */

const CLIENT_USAGE = '[--url URL] [--token TOKEN] [--tenant ID]';

async function target(values: OptionValues) {
  const client = ApiClient.fromOptions(values);
  const tenant = await resolveTenant(client, values);
  return { client, base: `${tenantPath(tenant)}/schedules` };
}

const scheduleId = (positionals: string[] = []) => {
  const id = positionals[0] ?? '';
  if (!isUuid(id)) throw new UsageError(`"${id.slice(0, 60)}" is not a schedule id`);
  return id.toLowerCase();
};

const describe = (s: Schedule) =>
  `schedule ${s.id} "${s.name}": ${s.type} on "${s.cron}" (${s.timezone}), ${s.status}${s.pausedReason ? ` (${s.pausedReason})` : ''}${s.nextFireAt ? `, next ${when(s.nextFireAt)}` : ''}${s.lastError ? `; last firing could not start: ${s.lastError.message}` : ''}`;

export const schedulesListCommand: Command = {
  name: 'schedules list',
  summary: "Lists a tenant's schedules",
  usage: `schedules list ${CLIENT_USAGE} [--json]`,
  options: { ...CLIENT_OPTIONS, json: { type: 'boolean' } },
  async run(ctx, values) {
    const { client, base } = await target(values);
    const { data } = await client.get<{ data: Schedule[] }>(base);
    if (values.json) ctx.out(JSON.stringify(data, null, 2));
    else if (data.length === 0) ctx.out('no schedules');
    else
      ctx.out(
        table(
          ['ID', 'NAME', 'TYPE', 'CRON', 'TIME ZONE', 'STATUS', 'NEXT', 'LAST RUN'],
          data.map((s) => [
            s.id,
            s.name,
            s.type,
            s.cron,
            s.timezone,
            s.status,
            when(s.nextFireAt),
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
  usage: `schedules create NAME --type TYPE --cron "EXPR" [--timezone TZ] [--missed once|skip] [--input key=value …] ${CLIENT_USAGE} [--json]`,
  options: {
    ...CLIENT_OPTIONS,
    type: { type: 'string' },
    cron: { type: 'string' },
    timezone: { type: 'string' },
    missed: { type: 'string' },
    input: { type: 'string', multiple: true },
    json: { type: 'boolean' },
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
    const { client, base } = await target(values);
    const { body } = await client.request<Schedule>('POST', base, {
      name: positionals[0],
      type: values.type,
      cron: values.cron,
      inputs,
      ...(typeof values.timezone === 'string' ? { timezone: values.timezone } : {}),
      ...(typeof values.missed === 'string' ? { missed: values.missed } : {}),
    });
    ctx.out(values.json ? JSON.stringify(body, null, 2) : `created ${describe(body)}`);
    return 0;
  },
};

function action(verb: 'pause' | 'resume' | 'delete', summary: string): Command {
  return {
    name: `schedules ${verb}`,
    summary,
    usage: `schedules ${verb} ID ${CLIENT_USAGE}`,
    options: CLIENT_OPTIONS,
    positionals: { min: 1, max: 1 },
    async run(ctx, values, positionals) {
      const id = scheduleId(positionals);
      const { client, base } = await target(values);
      if (verb === 'delete') {
        await client.request('DELETE', `${base}/${id}`);
        ctx.out(`deleted schedule ${id}`);
      } else {
        const { body } = await client.request<Schedule>('POST', `${base}/${id}/${verb}`);
        ctx.out(describe(body));
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
