import { Paper, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api, ok } from '../api/client.ts';
import { keys } from '../api/queries.ts';
import { QueryState } from './Empty.tsx';
import { RelativeTime } from './Time.tsx';

/**
 * The tenant's schedules that start one type of work, on that work's page: when they fire, whether
 * they are paused, and when they fire next. Managing them is the API's and the command line's
 * (`opsledger schedules …`); the page shows what will happen without a click.
 */
export function Schedules({ tenantId, type }: { tenantId: string; type: string }) {
  const q = useQuery({
    queryKey: keys.schedules(tenantId),
    queryFn: async () =>
      (await ok(api.GET('/api/v1/tenants/{tenantId}/schedules', { params: { path: { tenantId } } }))).data,
    staleTime: 30_000,
  });
  return (
    <Paper withBorder p="md" data-testid={`schedules-${type}`}>
      <Title order={2} size="h4" mb="xs">
        Schedules
      </Title>
      <QueryState
        q={q}
        what="schedules"
        empty={(all) => (all.some((s) => s.type === type) ? null : 'No schedule starts this work.')}
      >
        {(all) => (
          <Table.ScrollContainer minWidth={360}>
            <Table verticalSpacing="xs">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>When</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th>Next firing</Table.Th>
                  <Table.Th>Last fired</Table.Th>
                  <Table.Th>Created by</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {all
                  .filter((s) => s.type === type)
                  .map((s) => (
                    <Table.Tr key={s.id}>
                      <Table.Td>{s.name}</Table.Td>
                      <Table.Td>
                        <Text size="sm" ff="monospace" component="span">
                          {s.cron}
                        </Text>{' '}
                        <Text size="sm" component="span">
                          ({s.timezone})
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        {s.status === 'paused' ? 'Paused' : 'Active'}
                        {s.pausedReason && (
                          <Text size="xs" c="dimmed" data-testid="schedule-paused-reason">
                            {s.pausedReason}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td>{s.status === 'paused' ? '—' : <RelativeTime iso={s.nextFireAt} />}</Table.Td>
                      <Table.Td>
                        <RelativeTime iso={s.lastFiredAt} />
                        {s.lastError && (
                          <Text size="xs" c="red" data-testid="schedule-last-error">
                            Could not start: {s.lastError.message}
                          </Text>
                        )}
                      </Table.Td>
                      <Table.Td>
                        {s.createdBy ? (s.createdBy.name ?? 'a former member') : <Text c="dimmed">—</Text>}
                      </Table.Td>
                    </Table.Tr>
                  ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </QueryState>
    </Paper>
  );
}
