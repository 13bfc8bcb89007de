import { Button, Stack, Table, Text, Title, VisuallyHidden } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouteContext } from '@tanstack/react-router';
import { ApiError, api, ok } from '../api/client.ts';
import { keys } from '../api/queries.ts';
import { RelativeTime } from '../components/Time.tsx';

/**
 * The tenant's pending invitations, for its owners: who was invited, with which role, by whom and
 * until when; each can be revoked. Sent ones end on their own after their expiry, or when the owner
 * who sent them leaves the tenant.
 */
export function InvitationsPage() {
  const { tenant } = useRouteContext({ from: '/authed/t/$tenantId' });
  const tenantId = tenant.id;
  const key = keys.invitations(tenantId);
  const client = useQueryClient();
  const list = useQuery({
    queryKey: key,
    enabled: tenant.role === 'owner',
    queryFn: async () =>
      (await ok(api.GET('/api/v1/tenants/{tenantId}/invitations', { params: { path: { tenantId } } }))).data,
  });
  const revoke = useMutation({
    mutationFn: async (invitationId: string) => {
      const { error, response } = await api.DELETE('/api/v1/tenants/{tenantId}/invitations/{invitationId}', {
        params: { path: { tenantId, invitationId } },
      });
      if (!response.ok) {
        const p = (error ?? {}) as { title?: string; detail?: string };
        throw new ApiError(response.status, p.title ?? response.statusText, p.detail ?? '');
      }
    },
    onSuccess: () => client.invalidateQueries({ queryKey: key }),
    onError: (err) => notifications.show({ color: 'red.9', title: 'Not revoked', message: err.message }),
  });

  if (tenant.role !== 'owner') {
    return (
      <Stack maw={880}>
        <Title order={1} size="h2">
          Invitations
        </Title>
        <Text>Only the tenant's owners see and revoke its invitations.</Text>
      </Stack>
    );
  }
  const rows = list.data ?? [];
  return (
    <Stack maw={880} gap="sm">
      <Title order={1} size="h2">
        Invitations
      </Title>
      <Text size="sm">
        Pending invitations to {tenant.name}. An invitation ends when it expires, is revoked, or its sender
        stops being an owner.
      </Text>
      <Table.ScrollContainer minWidth={600}>
        <Table striped>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Email</Table.Th>
              <Table.Th>Role</Table.Th>
              <Table.Th>Invited by</Table.Th>
              <Table.Th>Sent</Table.Th>
              <Table.Th>Expires</Table.Th>
              <Table.Th>
                <VisuallyHidden>Actions</VisuallyHidden>
              </Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((i) => (
              <Table.Tr key={i.id}>
                <Table.Td>{i.email}</Table.Td>
                <Table.Td>{i.role}</Table.Td>
                <Table.Td>{i.invitedBy?.email ?? '—'}</Table.Td>
                <Table.Td>
                  <RelativeTime iso={i.createdAt} />
                </Table.Td>
                <Table.Td>
                  <RelativeTime iso={i.expiresAt} />
                </Table.Td>
                <Table.Td>
                  <Button
                    size="xs"
                    color="red"
                    variant="light"
                    aria-label={`Revoke the invitation of ${i.email}`}
                    loading={revoke.isPending && revoke.variables === i.id}
                    onClick={() => revoke.mutate(i.id)}
                  >
                    Revoke
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {list.isSuccess && rows.length === 0 && <Text size="sm">No pending invitations.</Text>}
      {list.isError && <Text c="red.9">{list.error.message}</Text>}
    </Stack>
  );
}
