import { Group, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import type { Insights, Run } from '../api/client.ts';
import { formatDuration, statsRowLabel } from '../vocabulary.ts';
import { AnchorLink } from './links.tsx';
import { RunBadges } from './RunBadges.tsx';
import { runNumber } from './RunIdentity.tsx';
import { RunLink } from './RunsTable.tsx';
import { RelativeTime } from './Time.tsx';

const pct = (n: number, of: number) => (of === 0 ? 0 : Math.round((n / of) * 1000) / 10);

/** "▲ 4.2 pts" against the window before: worse is said in words too, not only by the arrow. */
function Trend({ now, before }: { now: number; before: number | null }) {
  if (before === null) return <Text size="sm">no earlier runs</Text>;
  const d = Math.round((now - before) * 10) / 10;
  if (d === 0) return <Text size="sm">same as before</Text>;
  return (
    <Text size="sm" fw={d > 0 ? 700 : 400} data-trend={d > 0 ? 'worse' : 'better'}>
      {d > 0 ? '▲' : '▼'} {Math.abs(d)} pts ({d > 0 ? 'worse' : 'better'})
    </Text>
  );
}

function RunList({ runs, empty, detail }: { runs: Run[]; empty: string; detail: (r: Run) => string }) {
  if (runs.length === 0) return <Text size="sm">{empty}</Text>;
  return (
    <Stack gap={6}>
      {runs.map((r) => (
        <Group key={r.id} justify="space-between" wrap="nowrap" gap="xs" align="flex-start">
          <div style={{ minWidth: 0 }}>
            <RunLink run={r} />
            <Text size="xs" c="var(--ol-muted)">
              {runNumber(r)} · {detail(r)}
            </Text>
          </div>
          <RunBadges run={r} />
        </Group>
      ))}
    </Stack>
  );
}

/**
 * The Overview's first answer to "is something wrong?": failure rate per type against the window
 * before, each a link to those failed runs in the list; the slowest runs; the latest failures. A
 * type's dry runs have a row of their own ("Restore (dry run)"): a failed rehearsal shows, and it
 * does not raise the type's rate.
 */
export function Trouble({
  tenantId,
  insights,
  from,
}: {
  tenantId: string;
  insights: Insights;
  /** The window's first day (the list's `from` filter for the drill-down links). */
  from: string;
}) {
  return (
    <Stack gap="md">
      <Paper withBorder p="md" data-testid="failure-rates">
        <Title order={2} size="h4" mb="sm">
          Failure rate by type
        </Title>
        {insights.failureRates.length === 0 ? (
          <Text size="sm">No runs in this window.</Text>
        ) : (
          <Table.ScrollContainer minWidth={0}>
            <Table verticalSpacing={4}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Type</Table.Th>
                  <Table.Th ta="right">Failed</Table.Th>
                  <Table.Th ta="right">Rate</Table.Th>
                  <Table.Th>Trend</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {insights.failureRates.map((r) => {
                  const rate = pct(r.failed, r.total);
                  // Drill-downs list the row's runs: a type's dry runs, or its runs without them.
                  const runs = { type: r.type, dryRun: r.dryRun, from };
                  return (
                    <Table.Tr
                      key={`${r.type} ${r.dryRun}`}
                      data-type={r.type}
                      data-dry-run={r.dryRun || undefined}
                    >
                      <Table.Td>
                        <AnchorLink
                          to="/t/$tenantId/operations"
                          params={{ tenantId }}
                          search={runs}
                          size="sm"
                        >
                          {statsRowLabel(r)}
                        </AnchorLink>
                      </Table.Td>
                      <Table.Td ta="right">
                        {r.failed > 0 ? (
                          <AnchorLink
                            to="/t/$tenantId/operations"
                            params={{ tenantId }}
                            search={{ ...runs, outcome: 'failed' }}
                            size="sm"
                          >
                            {r.failed} of {r.total}
                          </AnchorLink>
                        ) : (
                          <Text size="sm">0 of {r.total}</Text>
                        )}
                      </Table.Td>
                      <Table.Td ta="right">
                        <Text size="sm" fw={rate > 0 ? 700 : 400}>
                          {rate}%
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Trend
                          now={rate}
                          before={r.previousTotal > 0 ? pct(r.previousFailed, r.previousTotal) : null}
                        />
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Paper>
      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <Paper withBorder p="md" data-testid="recent-failures">
          <Title order={2} size="h4" mb="sm">
            Latest failures
          </Title>
          <RunList
            runs={insights.recentFailures}
            empty="No failed runs in this window."
            detail={(r) => `${r.failureSummary[0]?.code ?? 'failed'}`}
          />
          {insights.recentFailures.length > 0 && (
            <Text size="xs" mt={4}>
              Finished <RelativeTime iso={insights.recentFailures[0]!.completedAt} /> at the latest.
            </Text>
          )}
        </Paper>
        <Paper withBorder p="md" data-testid="slowest">
          <Title order={2} size="h4" mb="sm">
            Slowest runs
          </Title>
          <RunList
            runs={insights.slowest}
            empty="No finished runs in this window."
            detail={(r) => `took ${formatDuration(r.durationMs)}`}
          />
        </Paper>
      </SimpleGrid>
    </Stack>
  );
}
