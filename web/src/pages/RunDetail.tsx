import {
  Alert,
  Button,
  Code,
  Group,
  Loader,
  Modal,
  Paper,
  Progress,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Timeline,
  Title,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, useNavigate, useRouteContext } from '@tanstack/react-router';
import { ApiError, api, ok, type Run, type RunDetail } from '../api/client.ts';
import { runQuery } from '../api/queries.ts';
import { applyRunEvent } from '../api/stream.ts';
import { DivergenceNotice } from '../components/DivergenceNotice.tsx';
import { Failures, groupFailures } from '../components/Failures.tsx';
import { AnchorLink } from '../components/links.tsx';
import { RunBadges } from '../components/RunBadges.tsx';
import { RunEvents } from '../components/RunEvents.tsx';
import { Copy, RunNumber, RunTag } from '../components/RunIdentity.tsx';
import { durationOf } from '../components/RunsTable.tsx';
import { exact, RelativeTime } from '../components/Time.tsx';
import { formatCounts, INITIATOR_LABELS, RETRYABLE_OUTCOMES, ROLE_MAY_OPERATE } from '../vocabulary.ts';
import { NotFoundPage } from './NotFound.tsx';

const route = getRouteApi('/authed/t/$tenantId/operations/$runId');

/**
 * An action behind a confirmation. When it may not be taken (the role, or the run's state) it is
 * shown disabled with the reason beside it, rather than hidden.
 */
function Confirm(props: {
  label: string;
  title: string;
  body: string;
  warning?: string;
  color: string;
  disabledReason?: string;
  onConfirm: () => Promise<unknown>;
}) {
  const [opened, { open, close }] = useDisclosure(false);
  const m = useMutation({ mutationFn: props.onConfirm, onSuccess: close });
  const reasonId = `why-${props.label.toLowerCase()}`;
  return (
    <>
      <Stack gap={2} align="flex-end">
        <Button
          color={props.color}
          variant="filled"
          onClick={open}
          disabled={Boolean(props.disabledReason)}
          aria-describedby={props.disabledReason ? reasonId : undefined}
        >
          {props.label}
        </Button>
        {props.disabledReason && (
          <Text size="xs" id={reasonId} maw={260} ta="right" data-testid="disabled-reason">
            {props.disabledReason}
          </Text>
        )}
      </Stack>
      <Modal opened={opened} onClose={close} title={props.title} centered>
        <Text size="sm">{props.body}</Text>
        {props.warning && (
          <Alert color="yellow.4" variant="outline" mt="sm" data-testid="retry-warning">
            <Text size="sm">{props.warning}</Text>
          </Alert>
        )}
        {m.isError && (
          <Alert color="red.9" mt="sm" role="alert">
            {m.error.message}
          </Alert>
        )}
        <Group justify="flex-end" mt="md">
          <Button variant="default" onClick={close}>
            Keep it
          </Button>
          <Button color={props.color} loading={m.isPending} onClick={() => m.mutate()}>
            {props.label}
          </Button>
        </Group>
      </Modal>
    </>
  );
}

/** Links a run's context gives: the domain record, the backup set, the drift findings. */
function DomainLinks({ run }: { run: Run }) {
  const links = ((run.context as { links?: Record<string, string> }).links ?? {}) as Record<string, string>;
  const inputs = ((run.context as { inputs?: Record<string, unknown> }).inputs ?? {}) as Record<
    string,
    unknown
  >;
  const t = run.tenantId;
  const out = [];
  if (run.source?.type === 'restore_run')
    out.push(
      <AnchorLink
        key="restore"
        to="/t/$tenantId/restore"
        params={{ tenantId: t }}
        search={{ record: run.source.id }}
      >
        Restore record {run.source.id.slice(0, 8)}
      </AnchorLink>,
    );
  if (links.backupSetId)
    out.push(
      <AnchorLink
        key="set"
        to="/t/$tenantId/backups"
        params={{ tenantId: t }}
        search={{ set: links.backupSetId }}
      >
        Backup set {links.backupSetId.slice(0, 8)}
      </AnchorLink>,
    );
  const baseline =
    links.baselineId ??
    (run.type === 'drift.generate' ? (inputs.baselineId as string | undefined) : undefined);
  if (baseline)
    out.push(
      <AnchorLink key="drift" to="/t/$tenantId/drift" params={{ tenantId: t }} search={{ baseline }}>
        Drift findings for baseline {baseline.slice(0, 8)}
      </AnchorLink>,
    );
  if (out.length === 0) return <Text size="sm">None</Text>;
  return <Stack gap={4}>{out}</Stack>;
}

/** Retry lineage, both ways: the run this one retries, and the runs that retry it. */
function Lineage({ run }: { run: RunDetail }) {
  if (!run.retryOf && run.retries.length === 0) return null;
  return (
    <Group gap="md" data-testid="lineage" wrap="wrap">
      {run.retryOf && (
        <Text size="sm">
          Retry of{' '}
          <AnchorLink
            to="/t/$tenantId/operations/$runId"
            params={{ tenantId: run.tenantId, runId: run.retryOf }}
            size="sm"
          >
            the original run
          </AnchorLink>
        </Text>
      )}
      {run.retries.length > 0 && (
        <Group gap={6} wrap="wrap">
          <Text size="sm">Retried by</Text>
          {run.retries.map((r) => (
            <Group key={r.id} gap={4} wrap="nowrap">
              <AnchorLink
                to="/t/$tenantId/operations/$runId"
                params={{ tenantId: run.tenantId, runId: r.id }}
                size="sm"
                data-testid="retried-by"
              >
                #{r.number}
              </AnchorLink>
              <RunBadges run={r} />
            </Group>
          ))}
        </Group>
      )}
    </Group>
  );
}

/** The outcome and its reason, first thing under the title: what happened, in one box. */
function Outcome({ run }: { run: Run }) {
  if (run.status !== 'completed') return null;
  const groups = groupFailures(run.failureSummary);
  const first = run.failureSummary[0];
  const tone = { succeeded: 'teal.9', partially_succeeded: 'yellow.4', failed: 'red.9', cancelled: 'gray.7' }[
    run.outcome as 'succeeded'
  ];
  const headline =
    run.outcome === 'succeeded'
      ? 'Succeeded'
      : run.outcome === 'partially_succeeded'
        ? `Partially succeeded: ${run.failureSummary.length} failure${run.failureSummary.length === 1 ? '' : 's'}`
        : run.outcome === 'failed'
          ? 'Failed'
          : 'Cancelled';
  return (
    <Alert
      color={tone}
      variant="outline"
      data-testid="outcome"
      title={
        <Text fw={700} size="md" c="var(--mantine-color-text)">
          {headline}
          {run.completedAt ? ` · took ${durationOf(run)}` : ''}
        </Text>
      }
    >
      {first ? (
        <Stack gap={4} data-testid="outcome-reason">
          <Group gap="xs" wrap="nowrap" align="flex-start">
            <span className="failure-code">{first.code}</span>
            <Text size="sm" lineClamp={3} style={{ overflowWrap: 'anywhere' }} c="var(--mantine-color-text)">
              {first.message}
            </Text>
          </Group>
          {groups.length > 1 && (
            <Text size="sm" c="var(--mantine-color-text)">
              Also:{' '}
              {groups
                .slice(1)
                .map((g) => `${g.code} ×${g.messages.length}`)
                .join(', ')}{' '}
              (see Failures below)
            </Text>
          )}
        </Stack>
      ) : (
        <Text size="sm" c="var(--mantine-color-text)">
          {run.outcome === 'cancelled'
            ? 'The run was cancelled before it finished.'
            : formatCounts(run.summaryCounts)}
        </Text>
      )}
    </Alert>
  );
}

export function RunDetailPage() {
  const { tenantId, runId } = route.useParams();
  const { tenant } = useRouteContext({ from: '/authed/t/$tenantId' });
  const client = useQueryClient();
  const navigate = useNavigate();
  const q = useQuery(runQuery(tenantId, runId));

  if (q.isPending)
    return (
      <Group justify="center" p="xl">
        <Loader aria-label="Loading run" />
      </Group>
    );
  if (q.isError) {
    if (q.error instanceof ApiError && (q.error.status === 404 || q.error.status === 400))
      return <NotFoundPage />;
    return (
      <Alert color="red.9" title="The run could not be loaded" role="alert">
        {q.error.message}
      </Alert>
    );
  }
  const run = q.data;
  const mayOperate = ROLE_MAY_OPERATE(tenant.role);
  const roleReason = mayOperate
    ? undefined
    : `A ${tenant.role} cannot cancel or retry runs; an operator or owner can.`;
  const counts = Object.entries(run.summaryCounts);
  const total = counts.reduce((a, [, v]) => a + v, 0);
  const inputs = (run.context as { inputs?: unknown }).inputs ?? {};
  const activeRetry = run.retries.find((r) => r.status !== 'completed');
  const succeededRetry = run.retries.find((r) => r.outcome === 'succeeded');
  const failedFirst = run.status === 'completed' && run.failureSummary.length > 0;

  const cancel = async () => {
    const res = await ok(
      api.POST('/api/v1/tenants/{tenantId}/operations/{runId}/cancel', {
        params: { path: { tenantId, runId } },
      }),
    );
    applyRunEvent(client, tenantId, res.run);
    notifications.show({
      color: 'blue.8',
      title: 'Cancel requested',
      message: `${run.title} is being cancelled.`,
    });
  };
  const retry = async () => {
    const res = await ok(
      api.POST('/api/v1/tenants/{tenantId}/operations/{runId}/retry', {
        params: { path: { tenantId, runId } },
      }),
    );
    applyRunEvent(client, tenantId, res.run);
    notifications.show({
      color: 'teal.9',
      title: 'Retry started',
      message: `Run #${res.run.number} retries #${run.number}.`,
    });
    await navigate({ to: '/t/$tenantId/operations/$runId', params: { tenantId, runId: res.run.id } });
  };

  const attempts = Array.from({ length: Math.max(run.attempts, run.startedAt ? 1 : 0) }, (_, i) => i + 1);
  const failures = <Failures run={run} />;
  return (
    <Stack gap="md" data-testid="run-detail" data-status={run.status} data-outcome={run.outcome}>
      <Group justify="space-between" align="flex-start" wrap="wrap">
        <div style={{ minWidth: 0, flex: '1 1 320px' }}>
          <AnchorLink to="/t/$tenantId/operations" params={{ tenantId }} size="sm">
            ← Operations
          </AnchorLink>
          <Group gap="sm" mt={4} wrap="wrap">
            <Title order={1} size="h2" style={{ overflowWrap: 'anywhere' }}>
              {run.title}
            </Title>
            <RunTag run={run} />
            <RunBadges run={run} />
          </Group>
          <Group gap="xs" mt={4} wrap="wrap">
            <RunNumber run={run} withLink />
            <Text className="mono" c="var(--ol-muted)" style={{ overflowWrap: 'anywhere' }}>
              {run.id}
            </Text>
            <Copy value={run.id} what="run id" />
          </Group>
        </div>
        <Group gap="xs" align="flex-start">
          {run.status !== 'completed' && (
            <Confirm
              label="Cancel"
              color="red.9"
              title="Cancel this run?"
              body="A queued run will never start; a running one stops at its next checkpoint and completes as cancelled."
              disabledReason={roleReason}
              onConfirm={cancel}
            />
          )}
          {run.status === 'completed' && RETRYABLE_OUTCOMES.includes(run.outcome) && (
            <Confirm
              label="Retry"
              color="blue.8"
              title="Retry this run?"
              body="A new run starts with the same inputs; this one stays as it is."
              warning={
                succeededRetry
                  ? `Run #${succeededRetry.number} already retried this one and succeeded. Retry again only if you mean to redo the work.`
                  : undefined
              }
              disabledReason={
                roleReason ??
                (activeRetry ? `Retry #${activeRetry.number} of this run is still active.` : undefined)
              }
              onConfirm={retry}
            />
          )}
        </Group>
      </Group>

      <Lineage run={run} />
      <Outcome run={run} />
      <DivergenceNotice run={run} />
      {failedFirst && failures}

      <RunEvents tenantId={run.tenantId} runId={run.id} />

      {run.status !== 'completed' && (
        <Paper withBorder p="md" data-testid="progress">
          <Text size="sm" fw={600} mb="xs">
            {run.status === 'running' ? 'In progress' : 'Waiting to start'}
          </Text>
          <Progress
            value={100}
            animated={run.status === 'running'}
            striped
            color={run.status === 'running' ? 'blue.8' : 'gray.5'}
            aria-label={run.status === 'running' ? 'Run in progress' : 'Run queued'}
          />
          <Text size="sm" mt="xs" aria-live="polite">
            {total} processed so far
          </Text>
        </Paper>
      )}

      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="md">
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Counts
          </Title>
          {counts.length === 0 ? (
            <Text size="sm">No counts reported yet.</Text>
          ) : (
            <Table withRowBorders={false} verticalSpacing={4} data-testid="counts">
              <Table.Tbody>
                {counts.map(([k, v]) => (
                  <Table.Tr key={k} data-count={k}>
                    <Table.Th scope="row" fw={500}>
                      {k}
                    </Table.Th>
                    <Table.Td ta="right">{v}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Paper>
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Timeline
          </Title>
          <Timeline
            active={run.completedAt ? attempts.length + 1 : run.startedAt ? attempts.length : 0}
            bulletSize={14}
            lineWidth={2}
            color="blue.8"
          >
            <Timeline.Item title="Queued">
              <Text size="sm" title={exact(run.createdAt)}>
                <RelativeTime iso={run.createdAt} />
              </Text>
            </Timeline.Item>
            {attempts.map((n) => (
              <Timeline.Item key={n} title={n === 1 ? 'Started' : `Attempt ${n}`}>
                <Text size="sm">
                  {n === 1 ? <RelativeTime iso={run.startedAt} /> : 'after the previous attempt failed'}
                </Text>
              </Timeline.Item>
            ))}
            <Timeline.Item title={run.completedAt ? 'Completed' : 'Not completed yet'}>
              <Text size="sm">
                {run.completedAt ? (
                  <>
                    <RelativeTime iso={run.completedAt} /> · took {durationOf(run)}
                  </>
                ) : (
                  durationOf(run)
                )}
              </Text>
            </Timeline.Item>
          </Timeline>
        </Paper>
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Initiator and links
          </Title>
          <Text size="sm">
            {run.initiator.name} ({INITIATOR_LABELS[run.initiator.kind]})
          </Text>
          <Text size="sm" mt="xs">
            Attempts: {run.attempts}
          </Text>
          <Title order={3} size="h5" mt="md" mb={4}>
            Related
          </Title>
          <DomainLinks run={run} />
        </Paper>
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Inputs
          </Title>
          {/* Focusable: a scrollable region must be reachable by keyboard. */}
          <Code block mah={260} style={{ overflow: 'auto' }} tabIndex={0} aria-label="Inputs as JSON">
            {JSON.stringify(inputs, null, 2)}
          </Code>
        </Paper>
      </SimpleGrid>

      {!failedFirst && failures}
    </Stack>
  );
}
