import { BarChart } from '@mantine/charts';
import { Alert, Group, Loader, Paper, SegmentedControl, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { getRouteApi } from '@tanstack/react-router';
import { insightsQuery, statsQuery } from '../api/queries.ts';
import { Trouble } from '../components/Trouble.tsx';
import {
  formatDuration,
  OUTCOME_CHART_COLORS,
  OUTCOME_LABELS,
  RUN_OUTCOMES,
  statsRowLabel,
} from '../vocabulary.ts';

const route = getRouteApi('/authed/t/$tenantId/overview');

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

/** The last 24 UTC hours, oldest first, as the insights API names them (2026-12-05T13:00Z). */
function hourRange(): string[] {
  const now = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  return Array.from(
    { length: 24 },
    (_, i) => `${new Date(now - (23 - i) * 3_600_000).toISOString().slice(0, 13)}:00Z`,
  );
}

/**
 * Per type: runs per day by outcome (stacked bars) and p50/p95 durations, from the stats API. A
 * type's dry runs have a card of their own: they change nothing, so they are not the type's work.
 */
export function OverviewPage() {
  const { tenantId } = route.useParams();
  const { window = '7d' } = route.useSearch();
  const navigate = route.useNavigate();
  const stats = useQuery(statsQuery(tenantId, window));
  const insights = useQuery(insightsQuery(tenantId, window));
  const hourly = window === '24h';

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
      {insights.data && stats.data && (
        <Trouble tenantId={tenantId} insights={insights.data} from={stats.data.since.slice(0, 10)} />
      )}
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
            const mine = (d: { type: string; dryRun: boolean }) => d.type === t.type && d.dryRun === t.dryRun;
            const label = statsRowLabel(t);
            const byDay = new Map(
              hourly
                ? (insights.data?.hours ?? []).filter(mine).map((d) => [d.hour, d.counts])
                : stats.data.days.filter(mine).map((d) => [d.day, d.counts]),
            );
            const days = hourly
              ? hourRange().map((hour) => ({ day: `${hour.slice(11, 13)}:00`, ...(byDay.get(hour) ?? {}) }))
              : dayRange(stats.data.since).map((day) => ({
                  day: day.slice(5),
                  ...(byDay.get(day) ?? {}),
                }));
            const present = RUN_OUTCOMES.filter((o) => days.some((d) => (d as Record<string, unknown>)[o]));
            return (
              <Paper
                key={`${t.type} ${t.dryRun}`}
                withBorder
                p="md"
                data-testid="type-stats"
                data-type={t.type}
                data-dry-run={t.dryRun || undefined}
              >
                <Group justify="space-between" align="baseline" mb="xs">
                  <Title order={2} size="h4">
                    {label}
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
                {t.dryRun && (
                  <Text size="xs" c="var(--ol-muted)" mb="xs">
                    Dry runs change nothing; they are not counted in {t.typeLabel}.
                  </Text>
                )}
                <BarChart
                  h={180}
                  data={days}
                  dataKey="day"
                  type="stacked"
                  withLegend
                  legendProps={{ verticalAlign: 'bottom' }}
                  aria-label={`${label}: runs per ${hourly ? 'hour (UTC)' : 'day'} by outcome`}
                  yAxisProps={{ allowDecimals: false }}
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
