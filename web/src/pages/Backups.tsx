import { Anchor, Button, Group, Modal, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useQuery } from '@tanstack/react-query';
import { getRouteApi, useRouteContext } from '@tanstack/react-router';
import { useState } from 'react';
import { backupItemsQuery, backupSetsQuery } from '../api/queries.ts';
import { QueryState } from '../components/Empty.tsx';
import { LastRun } from '../components/LastRun.tsx';
import { AnchorLink } from '../components/links.tsx';
import { Schedules } from '../components/Schedules.tsx';
import { useStartOperation } from '../components/start.tsx';
import { RelativeTime } from '../components/Time.tsx';
import { ROLE_MAY_OPERATE } from '../vocabulary.ts';

const route = getRouteApi('/authed/t/$tenantId/backups');

export function BackupsPage() {
  const { tenantId } = route.useParams();
  const { set } = route.useSearch();
  const navigate = route.useNavigate();
  const { tenant } = useRouteContext({ from: '/authed/t/$tenantId' });
  const sets = useQuery(backupSetsQuery(tenantId));
  const items = useQuery({ ...backupItemsQuery(tenantId, set ?? ''), enabled: Boolean(set) });
  const create = useStartOperation(tenantId, 'Backup');
  const [opened, { open, close }] = useDisclosure(false);
  const [name, setName] = useState('Manual backup');
  const selected = sets.data?.find((s) => s.id === set);

  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Backups
        </Title>
        {ROLE_MAY_OPERATE(tenant.role) && <Button onClick={open}>Create backup</Button>}
      </Group>
      <LastRun tenantId={tenantId} type="backup.create" label="Last backup" />
      <Schedules tenantId={tenantId} type="backup.create" />
      <Modal opened={opened} onClose={close} title="Create a backup" centered>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate(
              { type: 'backup.create', inputs: { name: name.trim() || 'Backup' } },
              { onSuccess: close },
            );
          }}
        >
          <TextInput
            label="Name"
            value={name}
            maxLength={200}
            onChange={(e) => setName(e.currentTarget.value)}
          />
          <Text size="sm" mt="xs">
            Every policy family is snapshotted.
          </Text>
          <Group justify="flex-end" mt="md">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending}>
              Create backup
            </Button>
          </Group>
        </form>
      </Modal>
      <QueryState q={sets} what="backup sets" empty={(d) => (d.length === 0 ? 'No backups yet.' : null)}>
        {(data) => (
          <Table.ScrollContainer minWidth={360}>
            <Table striped verticalSpacing="xs" data-testid="backup-sets">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th ta="right">Items</Table.Th>
                  <Table.Th>Created</Table.Th>
                  <Table.Th>Run</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.map((s) => (
                  <Table.Tr key={s.id} aria-selected={s.id === set}>
                    <Table.Td>
                      <Anchor
                        component="button"
                        type="button"
                        size="sm"
                        onClick={() => navigate({ search: { set: s.id } })}
                      >
                        {s.name}
                      </Anchor>
                    </Table.Td>
                    <Table.Td ta="right">{s.itemCount}</Table.Td>
                    <Table.Td>
                      <RelativeTime iso={s.createdAt} />
                    </Table.Td>
                    <Table.Td>
                      {s.runId ? (
                        <AnchorLink
                          to="/t/$tenantId/operations/$runId"
                          params={{ tenantId, runId: s.runId }}
                          size="sm"
                        >
                          View run
                        </AnchorLink>
                      ) : (
                        '—'
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </QueryState>
      {set && (
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Items of {selected?.name ?? 'the backup'}
          </Title>
          <QueryState
            q={items}
            what="items"
            empty={(d) => (d.length === 0 ? 'This backup has no items.' : null)}
          >
            {(data) => (
              <Table.ScrollContainer minWidth={360}>
                <Table verticalSpacing={4}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Family</Table.Th>
                      <Table.Th>Policy</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {data.map((i) => (
                      <Table.Tr key={`${i.family}/${i.externalId}`}>
                        <Table.Td>{i.family}</Table.Td>
                        <Table.Td>{i.displayName}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            )}
          </QueryState>
        </Paper>
      )}
    </Stack>
  );
}
