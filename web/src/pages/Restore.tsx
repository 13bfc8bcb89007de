import {
  Alert,
  Badge,
  Button,
  Checkbox,
  Group,
  Loader,
  Modal,
  Paper,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, useRouteContext } from '@tanstack/react-router';
import { useEffect } from 'react';
import { api, ok, type RestoreRun } from '../api/client.ts';
import {
  backupItemsQuery,
  backupSetsQuery,
  keys,
  restoreRunQuery,
  restoreRunsQuery,
  runQuery,
} from '../api/queries.ts';
import { applyRunEvent } from '../api/stream.ts';
import { QueryState } from '../components/Empty.tsx';
import { AnchorLink } from '../components/links.tsx';
import { announceRun } from '../components/start.tsx';
import { RelativeTime } from '../components/Time.tsx';
import { ROLE_MAY_OPERATE } from '../vocabulary.ts';

const route = getRouteApi('/authed/t/$tenantId/restore');

const RESTORE_STATUS: Record<string, { label: string; color: string }> = {
  pending: { label: 'Pending', color: 'gray.3' },
  running: { label: 'Running', color: 'blue.8' },
  completed: { label: 'Completed', color: 'teal.9' },
  completed_with_errors: { label: 'Completed with errors', color: 'yellow.4' },
  failed: { label: 'Failed', color: 'red.9' },
  cancelled: { label: 'Cancelled', color: 'gray.7' },
};
const ACTION_LABELS: Record<string, string> = {
  create: 'Would create',
  update: 'Would update',
  none: 'No change',
};
const DONE_ACTION_LABELS: Record<string, string> = {
  create: 'Created',
  update: 'Updated',
  none: 'Unchanged',
};

/** What changes (or failed) first: the review is about those, not the unchanged rest. */
function changesFirst(items: RestoreRun['items']) {
  const rank = (i: RestoreRun['items'][number]) =>
    i.result === 'failed' ? 0 : i.action && i.action !== 'none' ? 1 : 2;
  return [...items].sort((a, b) => rank(a) - rank(b));
}

function RestoreStatus({ status }: { status: string }) {
  const s = RESTORE_STATUS[status] ?? { label: status, color: 'gray.3' };
  return (
    <Badge color={s.color} autoContrast data-restore-status={status}>
      {s.label}
    </Badge>
  );
}

/** One restore record: what it did (or, for a dry run, would do) per item, and its mirrored run. */
function RestoreRecord({ tenantId, record }: { tenantId: string; record: RestoreRun }) {
  const done = record.status !== 'pending' && record.status !== 'running';
  return (
    <Paper
      withBorder
      p="md"
      data-testid="restore-record"
      data-record-id={record.id}
      data-status={record.status}
    >
      <Group justify="space-between" mb="xs">
        <Title order={2} size="h4">
          {record.dryRun ? 'Dry run' : 'Restore'} {record.id.slice(0, 8)}
        </Title>
        <RestoreStatus status={record.status} />
      </Group>
      <Text size="sm">
        Started by {record.initiator.name}, <RelativeTime iso={record.createdAt} /> ·{' '}
        {record.runId ? (
          <AnchorLink
            to="/t/$tenantId/operations/$runId"
            params={{ tenantId, runId: record.runId }}
            size="sm"
          >
            View run
          </AnchorLink>
        ) : (
          'run pruned'
        )}
      </Text>
      <Text size="sm" mt={4}>
        {Object.entries(record.counts)
          .filter(([, v]) => v > 0)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ') || 'No items yet'}
      </Text>
      {record.error && (
        <Alert color="red.9" mt="xs" title={record.error.code}>
          {record.error.message}
        </Alert>
      )}
      {!done && (
        <Group gap="xs" mt="xs">
          <Loader size="xs" aria-hidden />
          <Text size="sm">{record.dryRun ? 'Comparing the backup with the tenant…' : 'Restoring…'}</Text>
        </Group>
      )}
      {record.items.length > 0 && (
        <Table.ScrollContainer minWidth={0} mt="sm">
          <Table verticalSpacing={4} data-testid="restore-items">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Policy</Table.Th>
                <Table.Th>{record.dryRun ? 'Would change' : 'Result'}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {changesFirst(record.items).map((i) => (
                <Table.Tr key={`${i.family}/${i.externalId}`} data-action={i.action ?? ''}>
                  <Table.Td>
                    {i.displayName || i.externalId}
                    <Text size="xs" c="var(--ol-muted)">
                      {i.family}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm">
                      {i.action
                        ? record.dryRun
                          ? ACTION_LABELS[i.action]
                          : DONE_ACTION_LABELS[i.action]
                        : ''}
                      {i.result === 'failed' ? ` — failed${i.error ? `: ${i.error.message}` : ''}` : ''}
                      {i.result === 'skipped' ? ' — skipped' : ''}
                      {i.result === 'pending' ? 'pending' : ''}
                    </Text>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Paper>
  );
}

const FINAL = (status: string | undefined) =>
  status !== undefined && status !== 'pending' && status !== 'running';

/**
 * A restore record, read until it is final, and its mirrored run. The run's changes come live
 * through the stream; each one (and a record not yet final, every few seconds) reads the record
 * again, so the page follows the record itself, never a guess of where it may be.
 */
function useRestoreRecord(tenantId: string, id: string | undefined) {
  const record = useQuery({
    ...restoreRunQuery(tenantId, id ?? ''),
    enabled: Boolean(id),
    refetchInterval: (q) => (FINAL(q.state.data?.status) ? false : 2000),
  });
  const runId = record.data?.runId ?? '';
  const run = useQuery({ ...runQuery(tenantId, runId), enabled: Boolean(runId) });
  const moved = run.data
    ? `${run.data.status}/${run.data.outcome}/${JSON.stringify(run.data.summaryCounts)}`
    : '';
  const { refetch } = record;
  useEffect(() => {
    if (moved) refetch();
  }, [moved, refetch]);
  return record;
}

export function RestorePage() {
  const { tenantId } = route.useParams();
  const search = route.useSearch();
  const { record, dry: dryRunId } = search;
  const backupId = search.backup ?? null;
  const navigate = route.useNavigate();
  const { tenant } = useRouteContext({ from: '/authed/t/$tenantId' });
  const client = useQueryClient();
  const may = ROLE_MAY_OPERATE(tenant.role);
  const sets = useQuery(backupSetsQuery(tenantId));
  const items = useQuery({ ...backupItemsQuery(tenantId, backupId ?? ''), enabled: Boolean(backupId) });
  const all = (items.data ?? []).map((i) => i.externalId);
  const chosen = search.items ?? all;
  /** The choices live in the URL; a new choice drops the dry run made for the old one. */
  const choose = (patch: { backup?: string; items?: string[] }) =>
    navigate({
      search: (prev) => ({
        record: prev.record,
        backup: 'backup' in patch ? patch.backup : prev.backup,
        items: 'backup' in patch ? undefined : patch.items,
      }),
      replace: true,
    });
  const setChosen = (v: string[]) => choose({ items: v.length === all.length ? undefined : v });
  const dry = useRestoreRecord(tenantId, dryRunId);
  const current = useRestoreRecord(tenantId, record);
  const history = useQuery(restoreRunsQuery(tenantId));
  const [confirming, { open, close }] = useDisclosure(false);

  const start = useMutation({
    mutationFn: (dryRun: boolean) =>
      ok(
        api.POST('/api/v1/tenants/{tenantId}/restore-runs', {
          params: { path: { tenantId } },
          body: { backupId: backupId!, items: chosen, dryRun },
        }),
      ),
    onSuccess: (res, dryRun) => {
      applyRunEvent(client, tenantId, res.run);
      client.invalidateQueries({ queryKey: keys.restoreRuns(tenantId) });
      announceRun(tenantId, res.run, res.created, dryRun ? 'Dry run' : 'Restore');
      if (dryRun) navigate({ search: (prev) => ({ ...prev, dry: res.restore.id }) });
      else {
        close();
        navigate({ search: { record: res.restore.id } });
      }
    },
    onError: (err) =>
      notifications.show({ color: 'red.9', title: 'The restore could not start', message: err.message }),
  });
  const dryDone = FINAL(dry.data?.status);
  const dryUsable = dryDone && dry.data?.status !== 'failed' && dry.data?.status !== 'cancelled';
  const changes = dry.data?.items.filter((i) => i.action && i.action !== 'none').length ?? 0;

  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Restore
      </Title>
      {may && (
        <Paper withBorder p="md" data-testid="restore-wizard">
          <Title order={2} size="h4" mb="sm">
            New restore
          </Title>
          <Stack gap="sm">
            <Select
              label="1. Backup to restore from"
              placeholder="Pick a backup"
              data={(sets.data ?? []).map((s) => ({
                value: s.id,
                label: `${s.name} (${s.itemCount} items, ${s.createdAt.slice(0, 10)})`,
              }))}
              value={backupId}
              onChange={(v) => choose({ backup: v ?? undefined })}
            />
            {backupId && (
              <QueryState
                q={items}
                what="backup items"
                empty={(d) => (d.length === 0 ? 'This backup has no items.' : null)}
              >
                {(data) => (
                  <Checkbox.Group
                    label={`2. Items to restore (${chosen.length} of ${data.length} chosen)`}
                    value={chosen}
                    onChange={setChosen}
                  >
                    <Group gap="xs" my={6}>
                      <Button size="compact-xs" variant="default" onClick={() => setChosen(all)}>
                        All
                      </Button>
                      <Button size="compact-xs" variant="default" onClick={() => setChosen([])}>
                        None
                      </Button>
                    </Group>
                    <SimpleGrid
                      cols={{ base: 1, md: 2 }}
                      spacing={4}
                      mah={260}
                      style={{ overflowY: 'auto' }}
                      p={4}
                    >
                      {data.map((i) => (
                        <Checkbox
                          key={i.externalId}
                          value={i.externalId}
                          label={`${i.displayName} (${i.family})`}
                        />
                      ))}
                    </SimpleGrid>
                  </Checkbox.Group>
                )}
              </QueryState>
            )}
            <Group>
              <Button
                variant="default"
                disabled={!backupId || chosen.length === 0}
                loading={start.isPending && start.variables === true}
                onClick={() => start.mutate(true)}
              >
                3. Dry run
              </Button>
              <Button color="red.9" disabled={!dryUsable} onClick={open}>
                4. Execute
              </Button>
            </Group>
            {dryRunId && dry.isError && (
              <Alert color="red.9" role="alert" title="The dry run could not be read">
                {dry.error.message}
              </Alert>
            )}
            {dry.data && (
              <>
                <Text size="sm" fw={600} data-testid="dry-run-summary">
                  {!dryDone
                    ? 'Dry run in progress…'
                    : dryUsable
                      ? `The dry run found ${changes} item${changes === 1 ? '' : 's'} to change.`
                      : `The dry run ended ${dry.data?.status}: run it again before executing.`}
                </Text>
                <RestoreRecord tenantId={tenantId} record={dry.data} />
              </>
            )}
          </Stack>
          <Modal opened={confirming} onClose={close} title="Execute this restore?" centered>
            <Text size="sm">
              {changes} item{changes === 1 ? '' : 's'} of the tenant will be created or updated from the
              backup.
            </Text>
            <Group justify="flex-end" mt="md">
              <Button variant="default" onClick={close}>
                Cancel
              </Button>
              <Button
                color="red.9"
                loading={start.isPending && start.variables === false}
                onClick={() => start.mutate(false)}
              >
                Execute restore
              </Button>
            </Group>
          </Modal>
        </Paper>
      )}
      {record && (
        <QueryState q={current} what="restore record" empty={() => null}>
          {(r) => <RestoreRecord tenantId={tenantId} record={r} />}
        </QueryState>
      )}
      <Paper withBorder p="md">
        <Title order={2} size="h4" mb="sm">
          History
        </Title>
        <QueryState
          q={history}
          what="restores"
          empty={(d) => (d.data.length === 0 ? 'No restores yet.' : null)}
        >
          {(d) => (
            <Table.ScrollContainer minWidth={360}>
              <Table striped verticalSpacing={4} data-testid="restore-history">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Restore</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th>Started</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {d.data.map((r) => (
                    <Table.Tr key={r.id}>
                      <Table.Td>
                        <AnchorLink
                          to="/t/$tenantId/restore"
                          params={{ tenantId }}
                          search={{ record: r.id }}
                          size="sm"
                        >
                          {r.dryRun ? 'Dry run' : 'Restore'} {r.id.slice(0, 8)}
                        </AnchorLink>
                      </Table.Td>
                      <Table.Td>
                        <RestoreStatus status={r.status} />
                      </Table.Td>
                      <Table.Td>
                        <RelativeTime iso={r.createdAt} />
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
        </QueryState>
      </Paper>
    </Stack>
  );
}
