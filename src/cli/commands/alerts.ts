import { isUuid } from '../../shared/ids.ts';
import { ApiClient, resolveTenant, tenantPath } from '../api-client.ts';
import { type Command, type OptionValues, UsageError } from '../command.ts';
import { table } from '../format.ts';
import { CLIENT_OPTIONS } from './runs.ts';

/** `opsledger alerts …`: a tenant's webhook targets on a server, over its HTTP API (owners). */

const CLIENT_USAGE = '[--url URL] [--token TOKEN] [--tenant ID]';

type Target = {
  id: string;
  name: string;
  url: string;
  outcomes: string[];
  types: string[];
  enabled: boolean;
  lastDelivery: { event: string; status: string; statusCode: number | null } | null;
};

/** How the target's latest delivery went: "delivered (HTTP 200)", "pending", "—" for none yet. */
const lastDelivery = (d: Target['lastDelivery']) =>
  d ? `${d.status}${d.statusCode === null ? '' : ` (HTTP ${d.statusCode})`}` : '—';

async function targets(values: OptionValues) {
  const client = ApiClient.fromOptions(values);
  const tenant = await resolveTenant(client, values);
  return { client, base: `${tenantPath(tenant)}/alert-targets` };
}

export const alertsListCommand: Command = {
  name: 'alerts list',
  summary: "Lists a tenant's webhook alert targets (owners)",
  usage: `alerts list ${CLIENT_USAGE} [--json]`,
  options: { ...CLIENT_OPTIONS, json: { type: 'boolean' } },
  async run(ctx, values) {
    const { client, base } = await targets(values);
    const { data } = await client.get<{ data: Target[] }>(base);
    if (values.json) ctx.out(JSON.stringify(data, null, 2));
    else if (data.length === 0) ctx.out('no alert targets');
    else
      ctx.out(
        table(
          ['ID', 'NAME', 'URL', 'OUTCOMES', 'TYPES', 'ENABLED', 'LAST DELIVERY'],
          data.map((t) => [
            t.id,
            t.name,
            t.url,
            t.outcomes.join(','),
            t.types.join(',') || 'all',
            t.enabled ? 'yes' : 'no',
            lastDelivery(t.lastDelivery),
          ]),
        ),
      );
    return 0;
  },
};

export const alertsTestCommand: Command = {
  name: 'alerts test',
  summary: 'Queues a signed test delivery to a webhook target (owners)',
  usage: `alerts test ID ${CLIENT_USAGE}`,
  options: CLIENT_OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(ctx, values, positionals = []) {
    const id = positionals[0] ?? '';
    if (!isUuid(id)) throw new UsageError(`"${id.slice(0, 60)}" is not an alert target id`);
    const { client, base } = await targets(values);
    const { body } = await client.request<{ deliveryId: string }>('POST', `${base}/${id.toLowerCase()}/test`);
    ctx.out(`queued test delivery ${body.deliveryId}`);
    return 0;
  },
};

export const alertsCommands: Command[] = [alertsListCommand, alertsTestCommand];
