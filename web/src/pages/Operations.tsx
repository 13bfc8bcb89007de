import {
  Alert,
  Button,
  Group,
  Loader,
  Paper,
  Select,
  SimpleGrid,
  Stack,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { DatePickerInput } from '@mantine/dates';
import { useQuery } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import dayjs from 'dayjs';
import { useEffect, useState } from 'react';
import { api, type ListQuery, ok } from '../api/client.ts';
import { runListQuery } from '../api/queries.ts';
import { RunsTable } from '../components/RunsTable.tsx';
import { type OperationsSearch, operationsRoute } from '../router.tsx';
import {
  INITIATOR_KINDS,
  INITIATOR_LABELS,
  OUTCOME_LABELS,
  RUN_OUTCOMES,
  RUN_STATUSES,
  STATUS_LABELS,
} from '../vocabulary.ts';

const PAGE = 25;

/** The URL's view as the API's list query (dates are local days: from 00:00 to the next 00:00). */
export function listQueryOf(s: OperationsSearch): ListQuery {
  return {
    type: s.type,
    status: s.status,
    outcome: s.outcome,
    initiator: s.initiator,
    q: s.q?.toLowerCase(),
    since: s.from ? dayjs(s.from).startOf('day').toISOString() : undefined,
    until: s.to ? dayjs(s.to).add(1, 'day').startOf('day').toISOString() : undefined,
    cursor: s.cursor,
    limit: PAGE,
  };
}

export function OperationsPage() {
  const { tenantId } = operationsRoute.useParams();
  const search = operationsRoute.useSearch();
  const navigate = useNavigate({ from: operationsRoute.fullPath });
  const query = listQueryOf(search);
  const list = useQuery(runListQuery(tenantId, query));
  const types = useQuery({
    queryKey: ['operation-types'],
    queryFn: async () => (await ok(api.GET('/api/v1/operation-types'))).data,
    staleTime: Number.POSITIVE_INFINITY,
  });
  const [q, setQ] = useState(search.q ?? '');
  useEffect(() => setQ(search.q ?? ''), [search.q]);

  // Any change of filter starts again from the newest page.
  const setFilter = (patch: Partial<OperationsSearch>) =>
    navigate({ search: (prev) => ({ ...prev, ...patch, cursor: undefined, back: undefined }) });

  const runs = list.data?.data ?? [];
  const counts = runs.reduce<Record<string, number>>((acc, r) => {
    const key = r.status === 'completed' ? OUTCOME_LABELS[r.outcome] : STATUS_LABELS[r.status];
    acc[key] = (acc[key] ?? 0) + 1;
    return acc;
  }, {});
  const filtered = Boolean(
    search.type ||
      search.status ||
      search.outcome ||
      search.initiator ||
      search.from ||
      search.to ||
      search.q,
  );

  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Operations
      </Title>
      <Paper
        withBorder
        p="sm"
        component="form"
        role="search"
        aria-label="Filter runs"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ q: q.trim() || undefined });
        }}
      >
        <SimpleGrid cols={{ base: 1, xs: 2, md: 3, lg: 6 }} spacing="xs">
          <Select
            label="Type"
            placeholder="All types"
            clearable
            data={(types.data ?? []).map((t) => ({ value: t.type, label: t.label }))}
            value={search.type ?? null}
            onChange={(v) => setFilter({ type: v ?? undefined })}
          />
          <Select
            label="Status"
            placeholder="Any status"
            clearable
            data={RUN_STATUSES.map((s) => ({ value: s, label: STATUS_LABELS[s] }))}
            value={search.status ?? null}
            onChange={(v) => setFilter({ status: (v ?? undefined) as OperationsSearch['status'] })}
          />
          <Select
            label="Outcome"
            placeholder="Any outcome"
            clearable
            data={RUN_OUTCOMES.map((o) => ({ value: o, label: OUTCOME_LABELS[o] }))}
            value={search.outcome ?? null}
            onChange={(v) => setFilter({ outcome: (v ?? undefined) as OperationsSearch['outcome'] })}
          />
          <Select
            label="Initiator"
            placeholder="Anyone"
            clearable
            data={INITIATOR_KINDS.map((k) => ({ value: k, label: INITIATOR_LABELS[k] }))}
            value={search.initiator ?? null}
            onChange={(v) => setFilter({ initiator: (v ?? undefined) as OperationsSearch['initiator'] })}
          />
          <DatePickerInput
            type="range"
            label="Created"
            placeholder="Any time"
            clearable
            allowSingleDateInRange
            valueFormat="YYYY-MM-DD"
            value={[search.from ?? null, search.to ?? null]}
            presets={[
              { value: [dayjs().format('YYYY-MM-DD'), dayjs().format('YYYY-MM-DD')], label: 'Today' },
              {
                value: [dayjs().subtract(6, 'day').format('YYYY-MM-DD'), dayjs().format('YYYY-MM-DD')],
                label: 'Last 7 days',
              },
              {
                value: [dayjs().subtract(29, 'day').format('YYYY-MM-DD'), dayjs().format('YYYY-MM-DD')],
                label: 'Last 30 days',
              },
            ]}
            onChange={([from, to]) => {
              if ((from && to) || (!from && !to)) setFilter({ from: from ?? undefined, to: to ?? undefined });
            }}
          />
          <TextInput
            label="Run id"
            placeholder="Search by id"
            value={q}
            maxLength={36}
            onChange={(e) => setQ(e.currentTarget.value)}
            onBlur={() => q.trim() !== (search.q ?? '') && setFilter({ q: q.trim() || undefined })}
          />
        </SimpleGrid>
        <Group justify="space-between" mt="xs">
          <Text size="sm" aria-live="polite" data-testid="counts-summary">
            {list.isSuccess
              ? runs.length === 0
                ? 'No runs on this page'
                : `${runs.length} run${runs.length === 1 ? '' : 's'} on this page: ${Object.entries(counts)
                    .map(([k, v]) => `${v} ${k.toLowerCase()}`)
                    .join(', ')}`
              : ' '}
          </Text>
          <Group gap="xs">
            <Button type="submit" size="xs" variant="default">
              Search
            </Button>
            {filtered && (
              <Button size="xs" variant="subtle" onClick={() => navigate({ search: {} })}>
                Clear filters
              </Button>
            )}
          </Group>
        </Group>
      </Paper>

      {list.isPending ? (
        <Group justify="center" p="xl">
          <Loader aria-label="Loading runs" />
        </Group>
      ) : list.isError ? (
        <Alert color="red.9" variant="light" title="The runs could not be loaded" role="alert">
          {list.error.message}
          <Button size="xs" mt="sm" onClick={() => list.refetch()}>
            Try again
          </Button>
        </Alert>
      ) : runs.length === 0 ? (
        <Paper withBorder p="xl" ta="center" data-testid="empty">
          <Text fw={600}>{filtered ? 'No runs match these filters.' : 'No runs yet.'}</Text>
          <Text size="sm" c="dark.4">
            {filtered
              ? 'Change or clear the filters to see more.'
              : 'Runs appear here as soon as any work starts.'}
          </Text>
        </Paper>
      ) : (
        <RunsTable runs={runs} />
      )}

      <Group justify="space-between">
        <Button
          variant="default"
          disabled={!search.cursor}
          onClick={() => {
            const back = [...(search.back ?? [])];
            const cursor = back.pop();
            navigate({ search: (prev) => ({ ...prev, cursor, back: back.length ? back : undefined }) });
          }}
        >
          ← Newer
        </Button>
        <Button
          variant="default"
          disabled={!list.data?.nextCursor}
          onClick={() =>
            navigate({
              search: (prev) => ({
                ...prev,
                cursor: list.data!.nextCursor!,
                back: prev.cursor ? [...(prev.back ?? []), prev.cursor] : prev.back,
              }),
            })
          }
        >
          Older →
        </Button>
      </Group>
    </Stack>
  );
}
