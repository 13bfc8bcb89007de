import { Badge, Group, Paper, SegmentedControl, Table, Text, Title } from '@mantine/core';
import { useEffect, useState } from 'react';
import type { components } from '../api/schema';

export type RunEvent = components['schemas']['RunEvent'];

const LEVEL_COLORS: Record<RunEvent['level'], string> = { info: 'gray', warn: 'yellow.8', error: 'red.9' };
const LEVELS = ['info', 'warn', 'error'] as const;
/** The page keeps the newest this many; the API has them all. */
const KEEP = 2000;

/**
 * A run's event log, followed live: the per-run stream sends the events written so far, then
 * each new one as it is written (the browser's EventSource reconnects with Last-Event-ID).
 */
export function RunEvents({ tenantId, runId }: { tenantId: string; runId: string }) {
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [minLevel, setMinLevel] = useState<(typeof LEVELS)[number]>('info');

  useEffect(() => {
    setEvents([]);
    const source = new EventSource(
      `/api/v1/tenants/${encodeURIComponent(tenantId)}/operations/${encodeURIComponent(runId)}/events/stream`,
    );
    source.addEventListener('event', (message) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as RunEvent;
      setEvents((list) => (list.some((e) => e.id === event.id) ? list : [...list, event].slice(-KEEP)));
    });
    return () => source.close();
  }, [tenantId, runId]);

  const shown = events.filter((e) => LEVELS.indexOf(e.level) >= LEVELS.indexOf(minLevel));
  return (
    <Paper withBorder p="md" aria-labelledby="run-events-title">
      <Group justify="space-between" mb="sm">
        <Title order={2} size="h4" id="run-events-title">
          Events
        </Title>
        <SegmentedControl
          size="xs"
          aria-label="Minimum level"
          value={minLevel}
          onChange={(v) => setMinLevel(v as (typeof LEVELS)[number])}
          data={[
            { value: 'info', label: 'All' },
            { value: 'warn', label: 'Warnings' },
            { value: 'error', label: 'Errors' },
          ]}
        />
      </Group>
      {shown.length === 0 ? (
        <Text size="sm">{events.length === 0 ? 'No events yet.' : 'No events at this level.'}</Text>
      ) : (
        <Table.ScrollContainer minWidth={560} mah={480} type="native">
          <Table verticalSpacing={4} fz="sm" data-testid="run-events">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Time</Table.Th>
                <Table.Th>Attempt</Table.Th>
                <Table.Th>Level</Table.Th>
                <Table.Th>Event</Table.Th>
                <Table.Th>Message</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {shown.map((e) => (
                <Table.Tr key={e.id} data-kind={e.kind}>
                  <Table.Td style={{ whiteSpace: 'nowrap' }}>
                    <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time>
                  </Table.Td>
                  <Table.Td>{e.attempt}</Table.Td>
                  <Table.Td>
                    <Badge size="sm" variant="light" color={LEVEL_COLORS[e.level]}>
                      {e.level}
                    </Badge>
                  </Table.Td>
                  <Table.Td style={{ whiteSpace: 'nowrap' }}>{e.kind}</Table.Td>
                  <Table.Td style={{ overflowWrap: 'anywhere' }}>{e.message}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Paper>
  );
}
