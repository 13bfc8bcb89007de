import { BarChart } from '@mantine/charts';
import { Alert, Group, Loader, Paper, SegmentedControl, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { statsQuery } from '../api/queries.ts';
import { overviewRoute } from '../router.tsx';
import { formatDuration, OUTCOME_CHART_COLORS, OUTCOME_LABELS, RUN_OUTCOMES } from '../vocabulary.ts';

const WINDOWS = [
  { value: '24h', label: '24 h' },
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
] as const;

/** Every UTC day from the window's start to today, so days without runs show as gaps. */
function dayRange(since: string): string[] {
  const out: string[] = [];
  const end = new Date().toISOString().slice(0, 10);
  for (let d = new Date(`${since.slice(0, 10)}T00:00:00Z`); ; d = new Date(d.getTime() + 86_400_000)) {
    const day = d.toISOString().slice(0, 10);
    out.push(day);
    if (day >= end || out.length > 40) return out;
  }
}

/** Per type: runs per day by outcome (stacked bars) and p50/p95 durations, from the stats API. */
export function OverviewPage() {
  const { tenantId } = overviewRoute.useParams();
  const { window = '7d' } = overviewRoute.useSearch();
  const navigate = useNavigate({ from: overviewRoute.fullPath });
  const stats = useQuery(statsQuery(tenantId, window));

  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Overview
        </Title>
        <SegmentedControl
          aria-label="Time window"
          data={WINDOWS.map((w) => ({ value: w.value, label: w.label }))}
          value={window}
          onChange={(v) => navigate({ search: { window: v as typeof window } })}
        />
      </Group>
      {stats.isPending ? (
        <Group justify="center" p="xl">
          <Loader aria-label="Loading statistics" />
        </Group>
      ) : stats.isError ? (
        <Alert color="red.9" role="alert" title="The statistics could not be loaded">
          {stats.error.message}
        </Alert>
      ) : stats.data.data.length === 0 ? (
        <Paper withBorder p="xl" ta="center">
          <Text>No runs in this window.</Text>
        </Paper>
      ) : (
        <SimpleGrid cols={{ base: 1, lg: 2 }} spacing="md">
          {stats.data.data.map((t) => {
            const byDay = new Map(
              stats.data.days.filter((d) => d.type === t.type).map((d) => [d.day, d.counts]),
            );
            const days = dayRange(stats.data.since).map((day) => ({
              day: day.slice(5),
              ...(byDay.get(day) ?? {}),
            }));
            const present = RUN_OUTCOMES.filter((o) => days.some((d) => (d as Record<string, unknown>)[o]));
            return (
              <Paper key={t.type} withBorder p="md" data-testid="type-stats" data-type={t.type}>
                <Group justify="space-between" align="baseline" mb="xs">
                  <Title order={2} size="h4">
                    {t.typeLabel}
                  </Title>
                  <Text size="sm">
                    {t.total} run{t.total === 1 ? '' : 's'}
                  </Text>
                </Group>
                <Group gap="lg" mb="sm">
                  <Text size="sm">
                    p50 <b>{formatDuration(t.p50DurationMs)}</b>
                  </Text>
                  <Text size="sm">
                    p95 <b>{formatDuration(t.p95DurationMs)}</b>
                  </Text>
                  <Text size="sm">
                    {RUN_OUTCOMES.filter((o) => t.counts[o])
                      .map((o) => `${t.counts[o]} ${OUTCOME_LABELS[o].toLowerCase()}`)
                      .join(', ')}
                  </Text>
                </Group>
                <BarChart
                  h={180}
                  data={days}
                  dataKey="day"
                  type="stacked"
                  withLegend
                  legendProps={{ verticalAlign: 'bottom' }}
                  aria-label={`${t.typeLabel}: runs per day by outcome`}
                  series={present.map((o) => ({
                    name: o,
                    label: OUTCOME_LABELS[o],
                    color: OUTCOME_CHART_COLORS[o],
                  }))}
                />
              </Paper>
            );
          })}
        </SimpleGrid>
      )}
    </Stack>
  );
}
