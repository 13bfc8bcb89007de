import { Anchor, Card, Checkbox, Group, Stack, Table, Text, Tooltip } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import type { Run } from '../api/client.ts';
import { formatCounts, formatDuration, INITIATOR_LABELS } from '../vocabulary.ts';
import { AnchorLink } from './links.tsx';
import { RunBadges } from './RunBadges.tsx';
import { RunNumber, RunTag, runNumber } from './RunIdentity.tsx';
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
  return null;
}

/** The run's title as the link to its page, wherever a run is listed. */
export function RunLink({ run }: { run: Run }) {
  return (
    <AnchorLink
      to="/t/$tenantId/operations/$runId"
      params={{ tenantId: run.tenantId, runId: run.id }}
      fw={600}
      size="sm"
      style={{ overflowWrap: 'anywhere' }}
      aria-label={`${run.title}, run ${runNumber(run)}`}
    >
      {run.title}
    </AnchorLink>
  );
}

/** Who started it: a long name is cut with the whole of it in a tooltip; a person's name filters by them. */
function Initiator({ run, byPerson }: { run: Run; byPerson?: (userId: string) => void }) {
  const name = run.initiator.name || INITIATOR_LABELS[run.initiator.kind];
  const text = (
    <Text size="sm" truncate="end" maw={180} data-testid="initiator">
      {name}
    </Text>
  );
  return (
    <div style={{ minWidth: 0 }}>
      <Tooltip label={name} disabled={name.length < 22} withArrow multiline maw={320}>
        {run.initiator.userId && byPerson ? (
          <Anchor
            component="button"
            type="button"
            onClick={() => byPerson(run.initiator.userId!)}
            c="var(--mantine-color-text)"
            underline="hover"
            aria-label={`Show only runs started by ${name}`}
            style={{ display: 'block', maxWidth: 180 }}
          >
            {text}
          </Anchor>
        ) : (
          text
        )}
      </Tooltip>
      <Text size="xs" c="var(--ol-muted)">
        {INITIATOR_LABELS[run.initiator.kind]}
      </Text>
    </div>
  );
}

export type Selection = {
  selected: ReadonlySet<string>;
  toggle: (runId: string, on: boolean) => void;
  toggleAll: (on: boolean) => void;
};

/**
 * Runs as a table on wide screens and as cards on narrow ones (the page never scrolls sideways),
 * with an optional selection for bulk actions. One row shape for every list of runs.
 */
export function RunsTable({
  runs,
  selection,
  byPerson,
}: {
  runs: Run[];
  selection?: Selection;
  byPerson?: (userId: string) => void;
}) {
  const narrow = useMediaQuery('(max-width: 62em)');
  const pick = (run: Run) =>
    selection && (
      <Checkbox
        aria-label={`Select ${run.title}, run ${runNumber(run)}`}
        checked={selection.selected.has(run.id)}
        onChange={(e) => selection.toggle(run.id, e.currentTarget.checked)}
      />
    );
  if (narrow) {
    return (
      <Stack gap="xs" data-testid="runs">
        {runs.map((run) => (
          <Card key={run.id} withBorder padding="sm" data-run-id={run.id} data-testid="run-row">
            <Group justify="space-between" wrap="nowrap" align="flex-start" gap="xs">
              <Group gap="xs" wrap="nowrap" align="flex-start" style={{ minWidth: 0 }}>
                {pick(run)}
                <div style={{ minWidth: 0 }}>
                  <RunLink run={run} />
                  <Group gap={6} wrap="wrap">
                    <RunNumber run={run} />
                    <RunTag run={run} />
                  </Group>
                </div>
              </Group>
              <RunBadges run={run} />
            </Group>
            <Group gap={6} mt={6} wrap="nowrap">
              <Initiator run={run} byPerson={byPerson} />
            </Group>
            <Text size="sm">
              <RelativeTime iso={run.createdAt} /> · {durationOf(run)}
            </Text>
            <Text size="sm" c="var(--ol-muted)">
              {formatCounts(run.summaryCounts)}
            </Text>
            <RecordLink run={run} />
          </Card>
        ))}
      </Stack>
    );
  }
  const all = runs.length > 0 && runs.every((r) => selection?.selected.has(r.id));
  const some = runs.some((r) => selection?.selected.has(r.id));
  return (
    <Table.ScrollContainer minWidth={900}>
      <Table striped highlightOnHover verticalSpacing="xs" data-testid="runs">
        <Table.Thead>
          <Table.Tr>
            {selection && (
              <Table.Th w={36}>
                <Checkbox
                  aria-label="Select every run on this page"
                  checked={all}
                  indeterminate={some && !all}
                  onChange={(e) => selection.toggleAll(e.currentTarget.checked)}
                />
              </Table.Th>
            )}
            <Table.Th>Run</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Initiator</Table.Th>
            <Table.Th>Started</Table.Th>
            <Table.Th>Duration</Table.Th>
            <Table.Th>Counts</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {runs.map((run) => (
            <Table.Tr key={run.id} data-run-id={run.id} data-testid="run-row">
              {selection && <Table.Td>{pick(run)}</Table.Td>}
              <Table.Td maw={380}>
                <RunLink run={run} />
                <Group gap={6} wrap="wrap">
                  <RunNumber run={run} />
                  <RunTag run={run} />
                  <RecordLink run={run} />
                </Group>
              </Table.Td>
              <Table.Td style={{ whiteSpace: 'nowrap' }}>
                <RunBadges run={run} />
              </Table.Td>
              <Table.Td maw={200}>
                <Initiator run={run} byPerson={byPerson} />
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
              <Table.Td maw={220}>
                <Text size="sm" lineClamp={2}>
                  {formatCounts(run.summaryCounts)}
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
