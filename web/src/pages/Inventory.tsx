import { Anchor, Button, Group, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { getRouteApi, useRouteContext } from '@tanstack/react-router';
import { api, ok } from '../api/client.ts';
import { inventoryQuery, keys } from '../api/queries.ts';
import { QueryState } from '../components/Empty.tsx';
import { LastRun } from '../components/LastRun.tsx';
import { Schedules } from '../components/Schedules.tsx';
import { useStartOperation } from '../components/start.tsx';
import { RelativeTime } from '../components/Time.tsx';
import { ROLE_MAY_OPERATE } from '../vocabulary.ts';

const route = getRouteApi('/authed/t/$tenantId/inventory');

export function InventoryPage() {
  const { tenantId } = route.useParams();
  const { family } = route.useSearch();
  const navigate = route.useNavigate();
  const { tenant } = useRouteContext({ from: '/authed/t/$tenantId' });
  const families = useQuery(inventoryQuery(tenantId));
  const items = useQuery({
    queryKey: keys.inventoryItems(tenantId, family),
    enabled: Boolean(family),
    queryFn: async () =>
      (
        await ok(
          api.GET('/api/v1/tenants/{tenantId}/inventory/items', {
            params: { path: { tenantId }, query: { family } },
          }),
        )
      ).data,
  });
  const sync = useStartOperation(tenantId, 'Inventory sync');

  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Inventory
        </Title>
        {ROLE_MAY_OPERATE(tenant.role) && (
          <Button
            loading={sync.isPending}
            onClick={() => sync.mutate({ type: 'inventory.sync', inputs: {} })}
          >
            Sync now
          </Button>
        )}
      </Group>
      <LastRun tenantId={tenantId} type="inventory.sync" label="Last sync" />
      <Schedules tenantId={tenantId} type="inventory.sync" />
      <QueryState
        q={families}
        what="inventory"
        empty={(d) => (d.length === 0 ? 'Nothing synced yet.' : null)}
      >
        {(data) => (
          <Table.ScrollContainer minWidth={360}>
            <Table striped verticalSpacing="xs" data-testid="families">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Policy family</Table.Th>
                  <Table.Th ta="right">Items</Table.Th>
                  <Table.Th>Last seen</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.map((f) => (
                  <Table.Tr key={f.family}>
                    <Table.Td>
                      <Anchor
                        component="button"
                        type="button"
                        size="sm"
                        onClick={() => navigate({ search: { family: f.family } })}
                      >
                        {f.family}
                      </Anchor>
                    </Table.Td>
                    <Table.Td ta="right">{f.itemCount}</Table.Td>
                    <Table.Td>
                      <RelativeTime iso={f.lastSeenAt} />
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </QueryState>
      {family && (
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Items of {family}
          </Title>
          <QueryState
            q={items}
            what="items"
            empty={(d) => (d.length === 0 ? 'No items in this family.' : null)}
          >
            {(data) => (
              <Stack gap={4}>
                {data.map((i) => (
                  <Text key={i.externalId} size="sm">
                    {i.displayName}{' '}
                    <Text span className="mono" c="var(--ol-muted)">
                      {i.externalId}
                    </Text>
                  </Text>
                ))}
              </Stack>
            )}
          </QueryState>
        </Paper>
      )}
    </Stack>
  );
}
