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
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, useRouteContext } from '@tanstack/react-router';
import dayjs from 'dayjs';
import { useEffect, useState } from 'react';
import { api, type BulkCancelResult, type BulkRetryResult, type ListQuery, ok } from '../api/client.ts';
import { countQuery, runListQuery, typesQuery } from '../api/queries.ts';
import { applyRunEvent, rereadTenant } from '../api/stream.ts';
import { RunsTable, type Selection } from '../components/RunsTable.tsx';
import { type OperationsSearch, PAGE_SIZES } from '../search.ts';
import {
  INITIATOR_KINDS,
  INITIATOR_LABELS,
  OUTCOME_LABELS,
  RETRYABLE_OUTCOMES,
  ROLE_MAY_OPERATE,
  RUN_OUTCOMES,
  RUN_STATUSES,
  STATUS_LABELS,
} from '../vocabulary.ts';

const route = getRouteApi('/authed/t/$tenantId/operations');

const CALENDAR_LABELS = {
  nextMonth: 'Next month',
  previousMonth: 'Previous month',
  nextYear: 'Next year',
  previousYear: 'Previous year',
  nextDecade: 'Next decade',
  previousDecade: 'Previous decade',
};

/**
 * The calendar's dialog is named: Mantine labels it by the id of the field's button, which the
 * field's own label replaces, so the reference would point at nothing.
 */
const CALENDAR_POPOVER = {
  attributes: { dropdown: { 'aria-label': 'Created: choose dates', 'aria-labelledby': undefined } },
};

/** Dry runs (runs that change nothing, e.g. a restore's rehearsal) shown, hidden or alone. */
const DRY_RUN_CHOICES = [
  { value: 'any', label: 'With dry runs' },
  { value: 'false', label: 'No dry runs' },
  { value: 'true', label: 'Only dry runs' },
];

/** The URL's view as the API's list query (dates are local days: from 00:00 to the next 00:00). */
export function listQueryOf(s: OperationsSearch, meId: string): ListQuery {
  return {
    type: s.type,
    status: s.status,
    outcome: s.outcome,
    initiator: s.initiator,
    initiatorUserId: s.by === 'me' ? meId : s.by,
    dryRun: s.dryRun === undefined ? undefined : s.dryRun ? 'true' : 'false',
    q: s.q?.toLowerCase(),
    since: s.from ? dayjs(s.from).startOf('day').toISOString() : undefined,
    until: s.to ? dayjs(s.to).add(1, 'day').startOf('day').toISOString() : undefined,
    cursor: s.cursor,
    limit: s.size ?? PAGE_SIZES[0],
  };
}

const RESULT_WORDS: Record<string, string> = {
  cancelled: 'cancelled',
  cancel_requested: 'asked to stop',
  already_completed: 'already finished',
  retried: 'retried',
  already_retried: 'already retried',
  not_retryable: 'not retryable',
  not_found: 'not found',
};

function summarize(results: { result: string }[]): string {
  const n = new Map<string, number>();
  for (const r of results) n.set(r.result, (n.get(r.result) ?? 0) + 1);
  return [...n.entries()].map(([k, v]) => `${v} ${RESULT_WORDS[k] ?? k}`).join(', ');
}

export function OperationsPage() {
  const { tenantId } = route.useParams();
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const { tenant, me } = useRouteContext({ from: '/authed/t/$tenantId' });
  const client = useQueryClient();
  const query = listQueryOf(search, me.user.id);
  const list = useQuery(runListQuery(tenantId, query));
  const count = useQuery(countQuery(tenantId, query));
  const types = useQuery(typesQuery);
  const [q, setQ] = useState(search.q ?? '');
  useEffect(() => setQ(search.q ?? ''), [search.q]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const mayOperate = ROLE_MAY_OPERATE(tenant.role);

  // Any change of filter starts again from the newest page.
  const setFilter = (patch: Partial<OperationsSearch>) =>
    navigate({ search: (prev) => ({ ...prev, ...patch, cursor: undefined, back: undefined }) });

  const runs = list.data?.data ?? [];
  // The selection is of runs on this page: what the page no longer shows is no longer selected.
  const pageIds = runs.map((r) => r.id).join(',');
  useEffect(() => {
    const shown = new Set(pageIds.split(','));
    setSelected((prev) => {
      const kept = [...prev].filter((id) => shown.has(id));
      return kept.length === prev.size ? prev : new Set(kept);
    });
  }, [pageIds]);
  const selection: Selection = {
    selected,
    toggle: (id, on) =>
      setSelected((prev) => {
        const next = new Set(prev);
        if (on) next.add(id);
        else next.delete(id);
        return next;
      }),
    toggleAll: (on) => setSelected(on ? new Set(runs.map((r) => r.id)) : new Set()),
  };
  const chosen = runs.filter((r) => selected.has(r.id));
  const cancellable = chosen.filter((r) => r.status !== 'completed');
  const retryable = chosen.filter((r) => r.status === 'completed' && RETRYABLE_OUTCOMES.includes(r.outcome));
  const [lastBulk, setLastBulk] = useState<string | null>(null);
  const bulk = useMutation({
    mutationFn: async (action: 'cancel' | 'retry') => {
      const runIds = (action === 'cancel' ? cancellable : retryable).map((r) => r.id);
      const res =
        action === 'cancel'
          ? await ok(
              api.POST('/api/v1/tenants/{tenantId}/operations/bulk-cancel', {
                params: { path: { tenantId } },
                body: { runIds },
              }),
            )
          : await ok(
              api.POST('/api/v1/tenants/{tenantId}/operations/bulk-retry', {
                params: { path: { tenantId } },
                body: { runIds },
              }),
            );
      return { action, results: res.results as (BulkCancelResult | BulkRetryResult)[] };
    },
    onSuccess: ({ action, results }) => {
      for (const r of results) if ('run' in r) applyRunEvent(client, tenantId, r.run);
      rereadTenant(client, tenantId);
      setSelected(new Set());
      const text = `${action === 'cancel' ? 'Cancel' : 'Retry'}: ${summarize(results)}.`;
      setLastBulk(text);
      notifications.show({ color: 'teal.9', title: 'Done', message: text });
    },
    onError: (err) => notifications.show({ color: 'red.9', title: 'Not done', message: err.message }),
  });

  const filtered = Boolean(
    search.type ||
      search.status ||
      search.outcome ||
      search.initiator ||
      search.by ||
      search.dryRun !== undefined ||
      search.from ||
      search.to ||
      search.q,
  );
  const total = count.data
    ? `${count.data.capped ? '1,000+' : count.data.total.toLocaleString('en')} run${count.data.total === 1 && !count.data.capped ? '' : 's'}${filtered ? ' match' : ''}`
    : '';
  const person =
    search.by === 'me'
      ? 'me'
      : search.by
        ? (runs.find((r) => r.initiator.userId === search.by)?.initiator.name ?? 'the chosen person')
        : null;

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
        <SimpleGrid cols={{ base: 1, xs: 2, md: 4, lg: 7 }} spacing="xs">
          <Select
            label="Type"
            placeholder="All types"
            clearable
            clearButtonProps={{ 'aria-label': 'Clear type' }}
            data={(types.data ?? []).map((t) => ({ value: t.type, label: t.label }))}
            value={search.type ?? null}
            onChange={(v) => setFilter({ type: v ?? undefined })}
          />
          <Select
            label="Status"
            placeholder="Any status"
            clearable
            clearButtonProps={{ 'aria-label': 'Clear status' }}
            data={RUN_STATUSES.map((s) => ({ value: s, label: STATUS_LABELS[s] }))}
            value={search.status ?? null}
            onChange={(v) => setFilter({ status: (v ?? undefined) as OperationsSearch['status'] })}
          />
          <Select
            label="Outcome"
            placeholder="Any outcome"
            clearable
            clearButtonProps={{ 'aria-label': 'Clear outcome' }}
            data={RUN_OUTCOMES.map((o) => ({ value: o, label: OUTCOME_LABELS[o] }))}
            value={search.outcome ?? null}
            onChange={(v) => setFilter({ outcome: (v ?? undefined) as OperationsSearch['outcome'] })}
          />
          <Select
            label="Initiator"
            placeholder="Any kind"
            clearable
            clearButtonProps={{ 'aria-label': 'Clear initiator' }}
            data={INITIATOR_KINDS.map((k) => ({ value: k, label: INITIATOR_LABELS[k] }))}
            value={search.initiator ?? null}
            onChange={(v) => setFilter({ initiator: (v ?? undefined) as OperationsSearch['initiator'] })}
          />
          <DatePickerInput
            type="range"
            label="Created"
            placeholder="Any time"
            clearable
            clearButtonProps={{ 'aria-label': 'Clear dates' }}
            ariaLabels={CALENDAR_LABELS}
            popoverProps={CALENDAR_POPOVER}
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
          <Select
            label="Started by"
            placeholder="Anyone"
            clearable
            clearButtonProps={{ 'aria-label': 'Clear started by' }}
            data={[
              { value: 'me', label: 'Me' },
              ...(search.by && search.by !== 'me' ? [{ value: search.by, label: person ?? 'Someone' }] : []),
            ]}
            value={search.by ?? null}
            onChange={(v) => setFilter({ by: v ?? undefined })}
          />
          <TextInput
            label="Run number or id"
            placeholder="#123 or an id"
            data-shortcut="search"
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
                : `${total ? `${total} · ` : ''}${runs.length} on this page`
              : ' '}
          </Text>
          <Group gap="xs">
            <Select
              aria-label="Dry runs"
              size="xs"
              w={150}
              allowDeselect={false}
              data={DRY_RUN_CHOICES}
              value={search.dryRun === undefined ? 'any' : String(search.dryRun)}
              onChange={(v) => setFilter({ dryRun: v === 'true' ? true : v === 'false' ? false : undefined })}
            />
            <Select
              aria-label="Runs per page"
              size="xs"
              w={120}
              allowDeselect={false}
              data={PAGE_SIZES.map((n) => ({ value: String(n), label: `${n} a page` }))}
              value={String(search.size ?? PAGE_SIZES[0])}
              onChange={(v) => setFilter({ size: Number(v) as OperationsSearch['size'] })}
            />
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
          <Text size="sm" c="var(--ol-muted)">
            {filtered
              ? 'Change or clear the filters to see more.'
              : 'Runs appear here as soon as any work starts.'}
          </Text>
        </Paper>
      ) : (
        <Stack gap="xs">
          {mayOperate && (
            <Group gap="xs" data-testid="bulk-bar" mih={30}>
              <Text size="sm">
                {selected.size > 0
                  ? `${selected.size} selected`
                  : 'Select runs to cancel or retry them together.'}
              </Text>
              {selected.size > 0 && (
                <>
                  <Button
                    size="xs"
                    color="red.9"
                    disabled={cancellable.length === 0}
                    loading={bulk.isPending && bulk.variables === 'cancel'}
                    onClick={() => bulk.mutate('cancel')}
                  >
                    Cancel selected ({cancellable.length})
                  </Button>
                  <Button
                    size="xs"
                    color="blue.8"
                    disabled={retryable.length === 0}
                    loading={bulk.isPending && bulk.variables === 'retry'}
                    onClick={() => bulk.mutate('retry')}
                  >
                    Retry selected ({retryable.length})
                  </Button>
                  <Button size="xs" variant="default" onClick={() => setSelected(new Set())}>
                    Clear selection
                  </Button>
                </>
              )}
              {lastBulk && selected.size === 0 && (
                <Text size="sm" data-testid="bulk-result" role="status">
                  {lastBulk}
                </Text>
              )}
            </Group>
          )}
          <RunsTable
            runs={runs}
            selection={mayOperate ? selection : undefined}
            byPerson={(userId) => setFilter({ by: userId })}
          />
        </Stack>
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
