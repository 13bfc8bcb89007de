import {
  Alert,
  Badge,
  Button,
  Checkbox,
  Code,
  CopyButton,
  Fieldset,
  Group,
  Input,
  Modal,
  MultiSelect,
  NumberInput,
  Paper,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  Title,
  Tooltip,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi } from '@tanstack/react-router';
import { type FormEvent, type ReactNode, useEffect, useRef, useState } from 'react';
import { type AlertDelivery, type AlertTarget, ApiError, api, done, ok, type Tenant } from '../api/client.ts';
import { alertDeliveriesQuery, alertTargetsQuery, keys, typesQuery } from '../api/queries.ts';
import { QueryState } from '../components/Empty.tsx';
import { RelativeTime } from '../components/Time.tsx';
import { formatDuration, OUTCOME_LABELS } from '../vocabulary.ts';

const route = getRouteApi('/authed/t/$tenantId/alerts');

type Outcome = AlertTarget['outcomes'][number];
const OUTCOMES: Outcome[] = ['failed', 'partially_succeeded'];

const EVENT_LABELS: Record<AlertDelivery['event'], string> = {
  'run.failed': 'Run failed',
  'run.partially_succeeded': 'Run partially succeeded',
  'run.long_running': 'Run still active',
  test: 'Test',
};

// Each colour goes with its text; each pair meets AA contrast (as the run badges do).
const DELIVERY_LOOK: Record<AlertDelivery['status'], { label: string; color: string }> = {
  pending: { label: 'Pending', color: 'yellow.4' },
  delivered: { label: 'Delivered', color: 'teal.9' },
  failed: { label: 'Failed', color: 'red.9' },
};

/** While a delivery is still being tried, its reads are repeated this often. */
const POLL_MS = 1500;

/**
 * A tenant's alert targets: signed webhooks, each with its rules, and what became of the latest
 * deliveries. The API lets owners alone read or change them (a target sends the tenant's runs out
 * of Opsledger); anyone else sees why, and the actions disabled.
 */
export function AlertsPage() {
  const { tenant } = route.useRouteContext();
  // Keyed by tenant: switching tenant starts afresh (no form, no secret of the other tenant's target).
  return <TenantAlerts key={tenant.id} tenant={tenant} />;
}

function TenantAlerts({ tenant }: { tenant: Tenant }) {
  const tenantId = tenant.id;
  const mayManage = tenant.role === 'owner';
  const reason = mayManage
    ? null
    : `Only the tenant's owners see and manage its alert targets: a target sends the tenant's runs out of Opsledger. Your role in ${tenant.name} is ${tenant.role}.`;
  const targets = useQuery({
    ...alertTargetsQuery(tenantId),
    enabled: mayManage,
    refetchInterval: (q) =>
      q.state.data?.some((t) => t.lastDelivery?.status === 'pending') ? POLL_MS : false,
  });
  const [form, setForm] = useState<{ target: AlertTarget | null } | null>(null);
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);

  return (
    <Stack maw={960} gap="md">
      <Group justify="space-between" align="flex-end" wrap="wrap" gap="sm">
        <Stack gap={4} maw={640}>
          <Title order={1} size="h2">
            Alerts
          </Title>
          <Text size="sm">
            Signed webhooks for {tenant.name}: when a run matches a target's rules, Opsledger POSTs a JSON
            body to it, signed with the target's secret in the <Code>Opsledger-Signature</Code> header. A
            paused target keeps its rules and its log and is sent nothing.
          </Text>
        </Stack>
        <GatedButton reason={reason} onClick={() => setForm({ target: null })}>
          Add target
        </GatedButton>
      </Group>
      {reason && (
        <Alert color="gray.7" variant="outline" title="Read-only" data-testid="alerts-read-only">
          <Text size="sm" id={REASON_ID}>
            {reason}
          </Text>
        </Alert>
      )}
      {created && (
        <Alert
          color="teal.9"
          variant="outline"
          title={`Copy the signing secret of ${created.name} now: it is not shown again`}
          withCloseButton
          closeButtonLabel="Dismiss the signing secret"
          onClose={() => setCreated(null)}
        >
          <Stack gap="xs">
            <Group gap="xs" wrap="nowrap">
              <Code style={{ overflowWrap: 'anywhere' }} data-testid="signing-secret">
                {created.secret}
              </Code>
              <CopyButton value={created.secret}>
                {({ copied, copy }) => (
                  <Button size="xs" variant="light" onClick={copy}>
                    {copied ? 'Copied' : 'Copy'}
                  </Button>
                )}
              </CopyButton>
            </Group>
            <Text size="sm">
              The receiver checks that <Code>v1</Code> is the HMAC-SHA256 of <Code>{'<t>.<body>'}</Code> under
              this secret, and refuses an old <Code>t</Code>.
            </Text>
          </Stack>
        </Alert>
      )}
      {mayManage && (
        <QueryState
          q={targets}
          what="alert targets"
          empty={(all) =>
            all.length === 0 ? 'No alert targets yet: add one to be told when runs fail.' : null
          }
        >
          {(all) => (
            <Stack gap="md">
              {all.map((t) => (
                <TargetCard key={t.id} tenantId={tenantId} target={t} onEdit={() => setForm({ target: t })} />
              ))}
            </Stack>
          )}
        </QueryState>
      )}
      {mayManage && (
        <TargetForm
          tenantId={tenantId}
          opened={form !== null}
          target={form?.target ?? null}
          onClose={() => setForm(null)}
          onCreated={(name, secret) => setCreated({ name, secret })}
        />
      )}
    </Stack>
  );
}

const REASON_ID = 'alerts-read-only-reason';

/**
 * A button for an action the caller's role may not take is shown, not hidden, but inert, with the
 * reason on hover and focus (a disabled button takes no focus, so a keyboard would never see why).
 */
function GatedButton({
  reason,
  onClick,
  children,
}: {
  reason: string | null;
  onClick: () => void;
  children: ReactNode;
}) {
  if (!reason) return <Button onClick={onClick}>{children}</Button>;
  return (
    <Tooltip label={reason} multiline w={300} withArrow events={{ hover: true, focus: true, touch: true }}>
      <Button
        data-disabled
        aria-disabled="true"
        aria-describedby={REASON_ID}
        onClick={(e) => e.preventDefault()}
      >
        {children}
      </Button>
    </Tooltip>
  );
}

function rulesOf(target: AlertTarget, typeLabel: (name: string) => string) {
  return [
    {
      label: 'Types',
      value: target.types.length === 0 ? 'all operation types' : target.types.map(typeLabel).join(', '),
    },
    { label: 'Outcomes', value: target.outcomes.map((o) => OUTCOME_LABELS[o]).join(', ') },
    {
      label: 'Still active after',
      value: target.longerThanMinutes === null ? 'no duration rule' : `${target.longerThanMinutes} minutes`,
    },
  ];
}

/** A delivery's state; one still pending after a failed try says that it is being retried. */
function DeliveryBadge({ status, tried }: { status: AlertDelivery['status']; tried: boolean }) {
  const look =
    status === 'pending' && tried ? { label: 'Retrying', color: 'yellow.4' } : DELIVERY_LOOK[status];
  return (
    <Badge color={look.color} autoContrast variant="filled" style={{ flexShrink: 0 }}>
      {look.label}
    </Badge>
  );
}

function TargetCard({
  tenantId,
  target,
  onEdit,
}: {
  tenantId: string;
  target: AlertTarget;
  onEdit: () => void;
}) {
  const client = useQueryClient();
  const types = useQuery(typesQuery);
  const typeLabel = (name: string) => types.data?.find((t) => t.type === name)?.label ?? name;
  const [logOpen, setLogOpen] = useState(false);
  const [testId, setTestId] = useState<string | null>(null);
  const [deleting, setDeleting] = useState(false);
  const path = { params: { path: { tenantId, targetId: target.id } } };
  // The list alone: its key is a prefix of the delivery logs' keys, which need no reading again.
  const refresh = () => client.invalidateQueries({ queryKey: keys.alertTargets(tenantId), exact: true });
  const toggle = useMutation({
    mutationFn: () =>
      ok(
        api.PATCH('/api/v1/tenants/{tenantId}/alert-targets/{targetId}', {
          ...path,
          body: { enabled: !target.enabled },
        }),
      ),
    onSuccess: refresh,
    onError: (err) =>
      notifications.show({
        color: 'red.9',
        title: target.enabled ? 'Not paused' : 'Not enabled',
        message: err.message,
      }),
  });
  const test = useMutation({
    mutationFn: () => ok(api.POST('/api/v1/tenants/{tenantId}/alert-targets/{targetId}/test', path)),
    onSuccess: ({ deliveryId }) => {
      setTestId(deliveryId);
      client.invalidateQueries({ queryKey: keys.alertDeliveries(tenantId, target.id) });
      refresh();
    },
    onError: (err) => notifications.show({ color: 'red.9', title: 'No test sent', message: err.message }),
  });
  const nameId = `target-${target.id}`;
  const logId = `target-${target.id}-log`;
  const last = target.lastDelivery;

  return (
    <Paper withBorder p="md" component="section" aria-labelledby={nameId} data-testid="alert-target">
      <Stack gap="sm">
        <Group justify="space-between" align="flex-start" wrap="wrap" gap="sm">
          <Stack gap={2} style={{ minWidth: 0, flex: '1 1 260px' }}>
            <Group gap="xs" wrap="nowrap">
              <Title order={2} size="h4" id={nameId} style={{ overflowWrap: 'anywhere' }}>
                {target.name}
              </Title>
              <Badge
                color={target.enabled ? 'teal.9' : 'gray.7'}
                variant="filled"
                style={{ flexShrink: 0 }}
                data-testid="target-state"
              >
                {target.enabled ? 'Enabled' : 'Paused'}
              </Badge>
            </Group>
            <Text size="sm" ff="monospace" style={{ overflowWrap: 'anywhere' }} data-testid="target-url">
              {target.url}
            </Text>
          </Stack>
          <Group gap="xs" wrap="wrap">
            <Button size="xs" variant="default" onClick={onEdit} aria-label={`Edit ${target.name}`}>
              Edit
            </Button>
            <Button
              size="xs"
              variant="default"
              loading={toggle.isPending}
              onClick={() => toggle.mutate()}
              aria-label={`${target.enabled ? 'Pause' : 'Enable'} ${target.name}`}
            >
              {target.enabled ? 'Pause' : 'Enable'}
            </Button>
            <Button
              size="xs"
              variant="light"
              loading={test.isPending}
              onClick={() => test.mutate()}
              aria-label={`Send test to ${target.name}`}
            >
              Send test
            </Button>
            <Button
              size="xs"
              color="red.9"
              variant="outline"
              onClick={() => setDeleting(true)}
              aria-label={`Delete ${target.name}`}
            >
              Delete
            </Button>
          </Group>
        </Group>
        <Group gap="lg" wrap="wrap" component="dl" m={0} data-testid="target-rules">
          {rulesOf(target, typeLabel).map((r) => (
            <div key={r.label}>
              <Text component="dt" size="xs" fw={700} c="var(--ol-muted)">
                {r.label}
              </Text>
              <Text component="dd" size="sm" m={0}>
                {r.value}
              </Text>
            </div>
          ))}
          <div>
            <Text component="dt" size="xs" fw={700} c="var(--ol-muted)">
              Last delivery
            </Text>
            <Text component="dd" size="sm" m={0} data-testid="last-delivery">
              {last ? (
                <Group gap={6} component="span" wrap="nowrap">
                  <DeliveryBadge status={last.status} tried={last.statusCode !== null} />
                  <span>
                    {EVENT_LABELS[last.event]}
                    {last.statusCode !== null && ` · HTTP ${last.statusCode}`} ·{' '}
                    <RelativeTime iso={last.createdAt} />
                  </span>
                </Group>
              ) : (
                'none yet'
              )}
            </Text>
          </div>
        </Group>
        <Group gap="sm" wrap="wrap">
          <Button
            size="xs"
            variant="default"
            onClick={() => setLogOpen((o) => !o)}
            aria-expanded={logOpen}
            aria-controls={logOpen ? logId : undefined}
            aria-label={`${logOpen ? 'Hide delivery log' : 'Delivery log'} of ${target.name}`}
          >
            {logOpen ? 'Hide delivery log' : 'Delivery log'}
          </Button>
          <TestResult tenantId={tenantId} targetId={target.id} deliveryId={testId} onDone={refresh} />
        </Group>
        {logOpen && (
          <div id={logId}>
            <DeliveryLog tenantId={tenantId} target={target} />
          </div>
        )}
      </Stack>
      <DeleteTarget
        tenantId={tenantId}
        target={target}
        opened={deleting}
        onClose={() => setDeleting(false)}
      />
    </Paper>
  );
}

/** What became of the test just sent: read from the target's delivery log until it is settled. */
function TestResult({
  tenantId,
  targetId,
  deliveryId,
  onDone,
}: {
  tenantId: string;
  targetId: string;
  deliveryId: string | null;
  onDone: () => void;
}) {
  const log = useQuery({
    ...alertDeliveriesQuery(tenantId, targetId),
    enabled: deliveryId !== null,
    refetchInterval: (q) =>
      q.state.data?.find((d) => d.id === deliveryId)?.status === 'pending' ||
      !q.state.data?.some((d) => d.id === deliveryId)
        ? POLL_MS
        : false,
  });
  const delivery = log.data?.find((d) => d.id === deliveryId);
  const settled = delivery !== undefined && delivery.status !== 'pending' ? delivery.id : null;
  // Once the test is settled the list's "last delivery" is read again, once.
  const told = useRef<string | null>(null);
  useEffect(() => {
    if (settled && told.current !== settled) {
      told.current = settled;
      onDone();
    }
  }, [settled, onDone]);
  let text: ReactNode = null;
  if (deliveryId && !delivery) text = 'Test queued…';
  else if (delivery) {
    const tries = delivery.attempts;
    const latest = tries[tries.length - 1];
    if (delivery.status === 'delivered' && latest)
      text = `Test delivered: the receiver answered HTTP ${latest.statusCode} in ${formatDuration(latest.durationMs)}.`;
    else if (delivery.status === 'failed')
      text = `Test failed after ${tries.length} ${tries.length === 1 ? 'try' : 'tries'}: ${latest?.error ?? 'no answer'}.`;
    else if (latest)
      text = `Try ${latest.attempt} failed (${latest.error ?? `HTTP ${latest.statusCode}`}); it is tried again with backoff…`;
    else text = 'Test queued…';
  }
  return (
    <Text size="sm" role="status" data-testid="test-result" data-status={delivery?.status}>
      {text}
    </Text>
  );
}

function DeliveryLog({ tenantId, target }: { tenantId: string; target: AlertTarget }) {
  const log = useQuery({
    ...alertDeliveriesQuery(tenantId, target.id),
    refetchInterval: (q) => (q.state.data?.some((d) => d.status === 'pending') ? POLL_MS * 2 : false),
  });
  return (
    <QueryState
      q={log}
      what="delivery log"
      empty={(all) => (all.length === 0 ? 'No deliveries yet: send a test to try the target.' : null)}
    >
      {(all) => (
        <Table.ScrollContainer minWidth={640}>
          <Table
            striped
            verticalSpacing="xs"
            fz="sm"
            aria-label={`Latest deliveries to ${target.name}`}
            data-testid="delivery-log"
          >
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Created</Table.Th>
                <Table.Th>Event</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Tries</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {all.map((d) => (
                <Table.Tr key={d.id} data-delivery={d.id}>
                  <Table.Td style={{ whiteSpace: 'nowrap', verticalAlign: 'top' }}>
                    <RelativeTime iso={d.createdAt} />
                  </Table.Td>
                  <Table.Td style={{ verticalAlign: 'top' }}>{EVENT_LABELS[d.event]}</Table.Td>
                  <Table.Td style={{ verticalAlign: 'top' }}>
                    <DeliveryBadge status={d.status} tried={d.attempts.length > 0} />
                  </Table.Td>
                  <Table.Td>
                    {d.attempts.length === 0 ? (
                      'not tried yet'
                    ) : (
                      <Stack gap={2} component="ol" m={0} p={0} style={{ listStyle: 'none' }}>
                        {d.attempts.map((a) => (
                          <li key={a.attempt}>
                            <Text size="sm" component="span">
                              #{a.attempt}: {a.statusCode === null ? 'no answer' : `HTTP ${a.statusCode}`} in{' '}
                              {formatDuration(a.durationMs)}, <RelativeTime iso={a.at} />
                            </Text>
                            {a.error && a.error !== `the receiver answered HTTP ${a.statusCode}` && (
                              <Text size="xs" c="var(--ol-muted)" style={{ overflowWrap: 'anywhere' }}>
                                {a.error}
                              </Text>
                            )}
                            {a.response && (
                              <Text
                                size="xs"
                                c="var(--ol-muted)"
                                lineClamp={2}
                                style={{ overflowWrap: 'anywhere' }}
                                title={a.response}
                              >
                                Answer: {a.response}
                              </Text>
                            )}
                          </li>
                        ))}
                      </Stack>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </QueryState>
  );
}

function DeleteTarget({
  tenantId,
  target,
  opened,
  onClose,
}: {
  tenantId: string;
  target: AlertTarget;
  opened: boolean;
  onClose: () => void;
}) {
  const client = useQueryClient();
  const remove = useMutation({
    mutationFn: () =>
      done(
        api.DELETE('/api/v1/tenants/{tenantId}/alert-targets/{targetId}', {
          params: { path: { tenantId, targetId: target.id } },
        }),
      ),
    onSuccess: async () => {
      onClose();
      // Gone from the list at once, so nothing reads the log of a target that no longer exists
      // (its cached log is left to expire: removing it under a mounted reader would read it again).
      const list = keys.alertTargets(tenantId);
      client.setQueryData(list, (all: AlertTarget[] | undefined) => all?.filter((t) => t.id !== target.id));
      await client.invalidateQueries({ queryKey: list, exact: true });
    },
  });
  return (
    <Modal opened={opened} onClose={onClose} title={`Delete ${target.name}?`} centered>
      <Text size="sm">
        Its receiver is sent nothing more, and its delivery log is deleted with it. This cannot be undone.
      </Text>
      {remove.isError && (
        <Alert color="red.9" mt="sm" role="alert">
          {remove.error.message}
        </Alert>
      )}
      <Group justify="flex-end" mt="md">
        <Button variant="default" onClick={onClose}>
          Keep it
        </Button>
        <Button color="red.9" loading={remove.isPending} onClick={() => remove.mutate()}>
          Delete target
        </Button>
      </Group>
    </Modal>
  );
}

type Field = 'name' | 'url' | 'types' | 'outcomes' | 'longerThanMinutes' | 'enabled';
const FIELDS: readonly Field[] = ['name', 'url', 'types', 'outcomes', 'longerThanMinutes', 'enabled'];

/**
 * A 400's problems by field: the pointer's first segment after `/body` (the schema's checks) or
 * the root (the service's). The problem's own detail says it best when it is about one field.
 */
function fieldErrors(err: unknown): { fields: Partial<Record<Field, string>>; rest: string | null } {
  if (!(err instanceof ApiError)) return { fields: {}, rest: err ? String((err as Error).message) : null };
  const fields: Partial<Record<Field, string>> = {};
  const one = err.errors.length === 1 && err.detail !== 'the request does not match the schema';
  for (const e of err.errors) {
    const name = e.path.replace(/^\/body/, '').split('/')[1] as Field | undefined;
    if (name && FIELDS.includes(name) && !fields[name]) fields[name] = one ? err.detail : e.message;
  }
  return { fields, rest: Object.keys(fields).length === 0 ? err.message : null };
}

function TargetForm({
  tenantId,
  opened,
  target,
  onClose,
  onCreated,
}: {
  tenantId: string;
  opened: boolean;
  target: AlertTarget | null;
  onClose: () => void;
  onCreated: (name: string, secret: string) => void;
}) {
  const client = useQueryClient();
  const types = useQuery({ ...typesQuery, enabled: opened });
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [chosenTypes, setChosenTypes] = useState<string[]>([]);
  const [outcomes, setOutcomes] = useState<Outcome[]>(['failed']);
  const [minutes, setMinutes] = useState<number | string>('');
  const [enabled, setEnabled] = useState(true);
  const save = useMutation({
    mutationFn: async () => {
      const rules = {
        name,
        types: chosenTypes,
        outcomes,
        longerThanMinutes: typeof minutes === 'number' ? minutes : null,
      };
      if (target) {
        await ok(
          api.PATCH('/api/v1/tenants/{tenantId}/alert-targets/{targetId}', {
            params: { path: { tenantId, targetId: target.id } },
            body: { ...rules, ...(url.trim() ? { url: url.trim() } : {}) },
          }),
        );
        return null;
      }
      return ok(
        api.POST('/api/v1/tenants/{tenantId}/alert-targets', {
          params: { path: { tenantId } },
          body: { ...rules, url: url.trim(), enabled },
        }),
      );
    },
    onSuccess: async (made) => {
      if (made) onCreated(made.target.name, made.secret);
      else notifications.show({ color: 'teal.9', title: 'Target saved', message: name });
      onClose();
      await client.invalidateQueries({ queryKey: keys.alertTargets(tenantId), exact: true });
    },
  });
  const { reset } = save;

  // Each opening starts from the target edited, or from a blank form.
  useEffect(() => {
    if (!opened) return;
    reset();
    setName(target?.name ?? '');
    setUrl('');
    setChosenTypes(target?.types ?? []);
    setOutcomes(target?.outcomes ?? ['failed']);
    setMinutes(target?.longerThanMinutes ?? '');
    setEnabled(true);
  }, [opened, target, reset]);

  const { fields, rest } = fieldErrors(save.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const typeOptions = (types.data ?? []).map((t) => ({ value: t.type, label: t.label }));
  // A type the target names that is no longer registered stays visible, so saving does not drop it silently.
  for (const t of chosenTypes)
    if (!typeOptions.some((o) => o.value === t)) typeOptions.push({ value: t, label: t });

  return (
    <Modal
      opened={opened}
      onClose={onClose}
      title={target ? `Edit ${target.name}` : 'Add an alert target'}
      size="lg"
      centered
    >
      <form onSubmit={submit} aria-label={target ? `Edit ${target.name}` : 'New alert target'} noValidate>
        <Stack gap="sm">
          <TextInput
            label="Name"
            required
            maxLength={100}
            value={name}
            error={fields.name}
            onChange={(e) => setName(e.currentTarget.value)}
          />
          <TextInput
            label="Webhook URL"
            required={!target}
            description={
              target
                ? `Now ${target.url} (shown masked). Leave empty to keep it, or give a new one.`
                : 'http(s); stored encrypted and shown masked. Its signing secret is shown once, after saving.'
            }
            placeholder={target ? 'unchanged' : 'https://hooks.example.com/opsledger'}
            autoComplete="off"
            spellCheck={false}
            value={url}
            error={fields.url}
            onChange={(e) => setUrl(e.currentTarget.value)}
          />
          <MultiSelect
            label="Operation types"
            description="None chosen: every type."
            placeholder={chosenTypes.length === 0 ? 'All types' : undefined}
            data={typeOptions}
            value={chosenTypes}
            onChange={setChosenTypes}
            error={fields.types}
            searchable
            clearable
            comboboxProps={{ withinPortal: true }}
          />
          <Fieldset
            variant="unstyled"
            m={0}
            legend={<Input.Label component="span">Outcomes that alert</Input.Label>}
            styles={{ legend: { padding: 0, marginBottom: 0 } }}
            aria-describedby={fields.outcomes ? 'outcomes-help outcomes-error' : 'outcomes-help'}
          >
            <Input.Description id="outcomes-help">At least one.</Input.Description>
            <Group gap="md" mt={6}>
              {OUTCOMES.map((o) => (
                <Checkbox
                  key={o}
                  label={OUTCOME_LABELS[o]}
                  checked={outcomes.includes(o)}
                  onChange={(e) => {
                    const on = e.currentTarget.checked;
                    setOutcomes((now) => (on ? [...now, o] : now.filter((x) => x !== o)));
                  }}
                />
              ))}
            </Group>
            {fields.outcomes && (
              <Input.Error id="outcomes-error" mt={4}>
                {fields.outcomes}
              </Input.Error>
            )}
          </Fieldset>
          <NumberInput
            label="Also alert on a run still active after (minutes)"
            description="Empty: no duration rule. At most 10,080 (a week)."
            placeholder="off"
            min={1}
            max={10080}
            allowDecimal={false}
            allowNegative={false}
            value={minutes}
            error={fields.longerThanMinutes}
            onChange={setMinutes}
          />
          {!target && (
            <Switch
              label="Enabled: send alerts from the start"
              checked={enabled}
              onChange={(e) => setEnabled(e.currentTarget.checked)}
            />
          )}
          {rest && (
            <Alert color="red.9" role="alert" title={target ? 'Not saved' : 'No target added'}>
              {rest}
            </Alert>
          )}
          <Group justify="flex-end" mt="xs">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending}>
              {target ? 'Save changes' : 'Add target'}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
