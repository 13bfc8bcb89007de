import { Card, Group, Stack, Table, Text } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import type { Run } from '../api/client.ts';
import { formatCounts, formatDuration, INITIATOR_LABELS } from '../vocabulary.ts';
import { AnchorLink } from './links.tsx';
import { RunBadges } from './RunBadges.tsx';
import { RelativeTime } from './Time.tsx';

export function durationOf(run: Run): string {
  if (run.durationMs !== null) return formatDuration(run.durationMs);
  if (run.status === 'running' && run.startedAt)
    return `${formatDuration(Date.now() - Date.parse(run.startedAt))} so far`;
  return '—';
}

/** The domain record a run stands for, where there is one (a restore). */
export function RecordLink({ run }: { run: Run }) {
  if (run.source?.type === 'restore_run') {
    return (
      <AnchorLink
        to="/t/$tenantId/restore"
        params={{ tenantId: run.tenantId }}
        search={{ record: run.source.id }}
        size="sm"
      >
        Restore record
      </AnchorLink>
    );
  }
  return <Text size="sm">—</Text>;
}

function RunLink({ run }: { run: Run }) {
  return (
    <AnchorLink
      to="/t/$tenantId/operations/$runId"
      params={{ tenantId: run.tenantId, runId: run.id }}
      fw={600}
      size="sm"
      style={{ whiteSpace: 'nowrap' }}
      aria-label={`${run.typeLabel} run ${run.id.slice(0, 8)}`}
    >
      {run.typeLabel}
    </AnchorLink>
  );
}

/** Runs as a table on wide screens and as cards on narrow ones (the page never scrolls sideways). */
export function RunsTable({ runs }: { runs: Run[] }) {
  const narrow = useMediaQuery('(max-width: 62em)');
  if (narrow) {
    return (
      <Stack gap="xs" data-testid="runs">
        {runs.map((run) => (
          <Card key={run.id} withBorder padding="sm" data-run-id={run.id} data-testid="run-row">
            <Group justify="space-between" wrap="nowrap" align="flex-start">
              <div style={{ minWidth: 0 }}>
                <RunLink run={run} />
                <Text className="mono" c="dark.4">
                  {run.id.slice(0, 8)}
                </Text>
              </div>
              <RunBadges run={run} />
            </Group>
            <Text size="sm" mt={6}>
              {run.initiator.name} · <RelativeTime iso={run.createdAt} /> · {durationOf(run)}
            </Text>
            <Text size="sm" c="dark.4">
              {formatCounts(run.summaryCounts)}
            </Text>
            {run.source && <RecordLink run={run} />}
          </Card>
        ))}
      </Stack>
    );
  }
  return (
    <Table.ScrollContainer minWidth={900}>
      <Table striped highlightOnHover verticalSpacing="xs" data-testid="runs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Operation</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Initiator</Table.Th>
            <Table.Th>Started</Table.Th>
            <Table.Th>Duration</Table.Th>
            <Table.Th>Counts</Table.Th>
            <Table.Th>Record</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {runs.map((run) => (
            <Table.Tr key={run.id} data-run-id={run.id} data-testid="run-row">
              <Table.Td>
                <RunLink run={run} />
                <Text className="mono" c="dark.4">
                  {run.id.slice(0, 8)}
                </Text>
              </Table.Td>
              <Table.Td>
                <RunBadges run={run} />
              </Table.Td>
              <Table.Td>
                <Text size="sm" lineClamp={1} title={run.initiator.name}>
                  {run.initiator.name}
                </Text>
                <Text size="xs" c="dark.4">
                  {INITIATOR_LABELS[run.initiator.kind]}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm" style={{ whiteSpace: 'nowrap' }}>
                  <RelativeTime iso={run.startedAt ?? run.createdAt} />
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="sm" style={{ whiteSpace: 'nowrap' }}>
                  {durationOf(run)}
                </Text>
              </Table.Td>
              <Table.Td maw={260}>
                <Text size="sm" lineClamp={2}>
                  {formatCounts(run.summaryCounts)}
                </Text>
              </Table.Td>
              <Table.Td>
                <RecordLink run={run} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
