import {
  Alert,
  Button,
  Code,
  CopyButton,
  Group,
  NumberInput,
  PasswordInput,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  VisuallyHidden,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactNode, useState } from 'react';
import { ApiError, api, ok } from '../api/client.ts';
import { keys, useSignedOut } from '../api/queries.ts';
import { RelativeTime } from '../components/Time.tsx';

/** A write answered `204 No Content`: nothing to read, only whether it was done. */
async function done(promise: Promise<{ error?: unknown; response: Response }>): Promise<void> {
  const { error, response } = await promise;
  if (response.ok) return;
  const p = (error ?? {}) as { title?: string; detail?: string };
  throw new ApiError(response.status, p.title ?? response.statusText, p.detail ?? '');
}

/** The signed-in person's own credentials: API tokens, the password, and signing out everywhere. */
export function AccountPage() {
  return (
    <Stack gap="xl" maw={880}>
      <Title order={1} size="h2">
        Account
      </Title>
      <Tokens />
      <ChangePassword />
      <SignOutEverywhere />
    </Stack>
  );
}

function Tokens() {
  const client = useQueryClient();
  const list = useInfiniteQuery({
    queryKey: keys.tokens,
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      ok(api.GET('/api/v1/me/tokens', { params: { query: { limit: 50, cursor: pageParam ?? undefined } } })),
    getNextPageParam: (page) => page.nextCursor,
  });
  const [name, setName] = useState('');
  const [scope, setScope] = useState<'read' | 'operate'>('read');
  const [days, setDays] = useState<number | string>('');
  const [password, setPassword] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () =>
      ok(
        api.POST('/api/v1/me/tokens', {
          body: {
            name,
            scope,
            password,
            ...(typeof days === 'number' ? { expiresInDays: days } : {}),
          },
        }),
      ),
    onSuccess: (created) => {
      setSecret(created.secret);
      setName('');
      setPassword('');
      client.invalidateQueries({ queryKey: keys.tokens });
    },
    onError: (err) => notifications.show({ color: 'red.9', title: 'No token made', message: err.message }),
  });
  const revoke = useMutation({
    mutationFn: (id: string) => done(api.DELETE('/api/v1/me/tokens/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.tokens }),
    onError: (err) => notifications.show({ color: 'red.9', title: 'Not revoked', message: err.message }),
  });
  const tokens = list.data?.pages.flatMap((p) => p.data) ?? [];
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };

  return (
    <Section
      id="tokens"
      title="API tokens"
      intro="For automations and the command line. A token reads, or reads and operates (starts, cancels and retries runs); it never manages members or makes other tokens, and it expires."
    >
      {secret && (
        <Alert
          color="teal"
          title="Copy the token now: it is not shown again"
          withCloseButton
          onClose={() => setSecret(null)}
        >
          <Group gap="xs" wrap="nowrap">
            <Code style={{ overflowWrap: 'anywhere' }}>{secret}</Code>
            <CopyButton value={secret}>
              {({ copied, copy }) => (
                <Button size="xs" variant="light" onClick={copy}>
                  {copied ? 'Copied' : 'Copy'}
                </Button>
              )}
            </CopyButton>
          </Group>
        </Alert>
      )}
      <form onSubmit={submit} aria-label="New API token">
        <Group align="end" gap="sm">
          <TextInput
            label="Name"
            required
            maxLength={100}
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
          />
          <Select
            label="Scope"
            data={[
              { value: 'read', label: 'Read' },
              { value: 'operate', label: 'Read and operate' },
            ]}
            value={scope}
            allowDeselect={false}
            onChange={(v) => setScope(v === 'operate' ? 'operate' : 'read')}
            w={170}
          />
          <NumberInput
            label="Expires in (days)"
            placeholder="default"
            min={1}
            value={days}
            onChange={setDays}
            w={150}
          />
          <PasswordInput
            label="Your password"
            required
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
          />
          <Button type="submit" loading={create.isPending}>
            Create token
          </Button>
        </Group>
      </form>
      <Table.ScrollContainer minWidth={600}>
        <Table striped>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Scope</Table.Th>
              <Table.Th>Created</Table.Th>
              <Table.Th>Last used</Table.Th>
              <Table.Th>Expires</Table.Th>
              <Table.Th>
                <VisuallyHidden>Actions</VisuallyHidden>
              </Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {tokens.map((t) => (
              <Table.Tr key={t.id}>
                <Table.Td>{t.name}</Table.Td>
                <Table.Td>{t.scope === 'operate' ? 'read and operate' : 'read'}</Table.Td>
                <Table.Td>
                  <RelativeTime iso={t.createdAt} />
                </Table.Td>
                <Table.Td>{t.lastUsedAt ? <RelativeTime iso={t.lastUsedAt} /> : 'never'}</Table.Td>
                <Table.Td>
                  <RelativeTime iso={t.expiresAt} />
                </Table.Td>
                <Table.Td>
                  <Button
                    size="xs"
                    color="red"
                    variant="light"
                    aria-label={`Revoke ${t.name}`}
                    loading={revoke.isPending && revoke.variables === t.id}
                    onClick={() => revoke.mutate(t.id)}
                  >
                    Revoke
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {list.isSuccess && tokens.length === 0 && <Text size="sm">No API tokens.</Text>}
      {list.hasNextPage && (
        <Button
          variant="default"
          onClick={() => list.fetchNextPage()}
          loading={list.isFetchingNextPage}
          w="fit-content"
        >
          Show older tokens
        </Button>
      )}
    </Section>
  );
}

/** A titled section of the page, named by its title for screen readers. */
function Section({
  id,
  title,
  intro,
  children,
}: {
  id: string;
  title: string;
  intro: ReactNode;
  children: ReactNode;
}) {
  return (
    <Stack component="section" aria-labelledby={`${id}-title`} gap="sm">
      <Title order={2} size="h3" id={`${id}-title`}>
        {title}
      </Title>
      <Text size="sm">{intro}</Text>
      {children}
    </Stack>
  );
}

/** A one-line form whose fields are password inputs, sent with one button. */
function PasswordForm({
  label,
  fields,
  submit,
  color,
  pending,
  onSubmit,
}: {
  label: string;
  fields: { label: string; autoComplete: string; value: string; set: (v: string) => void }[];
  submit: string;
  color?: string;
  pending: boolean;
  onSubmit: () => void;
}) {
  return (
    <form
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      <Group align="end" gap="sm">
        {fields.map((f) => (
          <PasswordInput
            key={f.label}
            label={f.label}
            required
            autoComplete={f.autoComplete}
            value={f.value}
            onChange={(e) => f.set(e.currentTarget.value)}
          />
        ))}
        <Button type="submit" color={color} loading={pending}>
          {submit}
        </Button>
      </Group>
    </form>
  );
}

function ChangePassword() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const client = useQueryClient();
  const change = useMutation({
    mutationFn: () =>
      done(api.POST('/api/v1/me/password', { body: { currentPassword: current, newPassword: next } })),
    onSuccess: () => {
      setCurrent('');
      setNext('');
      client.invalidateQueries({ queryKey: keys.tokens });
      notifications.show({
        color: 'teal.9',
        title: 'Password changed',
        message: 'Your other sessions have ended and your API tokens are revoked.',
      });
    },
    onError: (err) =>
      notifications.show({ color: 'red.9', title: 'Password not changed', message: err.message }),
  });
  return (
    <Section
      id="password"
      title="Password"
      intro="Changing it signs out your other sessions and revokes all your API tokens."
    >
      <PasswordForm
        label="Change password"
        fields={[
          { label: 'Current password', autoComplete: 'current-password', value: current, set: setCurrent },
          {
            label: 'New password (12 characters or more)',
            autoComplete: 'new-password',
            value: next,
            set: setNext,
          },
        ]}
        submit="Change password"
        pending={change.isPending}
        onSubmit={() => change.mutate()}
      />
    </Section>
  );
}

function SignOutEverywhere() {
  const [password, setPassword] = useState('');
  const signedOut = useSignedOut();
  const out = useMutation({
    mutationFn: () => done(api.POST('/api/v1/auth/logout-everywhere', { body: { password } })),
    onSuccess: signedOut,
    onError: (err) => notifications.show({ color: 'red.9', title: 'Still signed in', message: err.message }),
  });
  return (
    <Section
      id="everywhere"
      title="Sign out everywhere"
      intro="Ends every session of yours, this one included, and revokes all your API tokens: for a lost device or a password that may have been seen."
    >
      <PasswordForm
        label="Sign out everywhere"
        fields={[
          { label: 'Your password', autoComplete: 'current-password', value: password, set: setPassword },
        ]}
        submit="Sign out everywhere"
        color="red"
        pending={out.isPending}
        onSubmit={() => out.mutate()}
      />
    </Section>
  );
}
