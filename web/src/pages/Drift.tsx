import { Anchor, Badge, Button, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { getRouteApi, useRouteContext } from '@tanstack/react-router';
import { baselinesQuery, findingsQuery } from '../api/queries.ts';
import { QueryState } from '../components/Empty.tsx';
import { AnchorLink } from '../components/links.tsx';
import { useStartOperation } from '../components/start.tsx';
import { RelativeTime } from '../components/Time.tsx';
import { ROLE_MAY_OPERATE } from '../vocabulary.ts';

const route = getRouteApi('/authed/t/$tenantId/drift');

const KIND_COLORS = { added: 'teal.9', removed: 'red.9', modified: 'yellow.4' } as const;

export function DriftPage() {
  const { tenantId } = route.useParams();
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const { tenant } = useRouteContext({ from: '/authed/t/$tenantId' });
  const baselines = useQuery(baselinesQuery(tenantId));
  const baseline = search.baseline ?? baselines.data?.[0]?.id;
  const findings = useQuery({ ...findingsQuery(tenantId, baseline ?? ''), enabled: Boolean(baseline) });
  const generate = useStartOperation(tenantId, 'Drift generation');
  const may = ROLE_MAY_OPERATE(tenant.role);

  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Drift
      </Title>
      <QueryState
        q={baselines}
        what="baselines"
        empty={(d) => (d.length === 0 ? 'No baselines: create a backup first.' : null)}
      >
        {(data) => (
          <Table.ScrollContainer minWidth={520}>
            <Table striped verticalSpacing="xs" data-testid="baselines">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Baseline</Table.Th>
                  <Table.Th ta="right">Items</Table.Th>
                  <Table.Th>Last generation</Table.Th>
                  {may && <Table.Th>Action</Table.Th>}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.map((b) => (
                  <Table.Tr key={b.id} aria-selected={b.id === baseline}>
                    <Table.Td>
                      <Anchor
                        component="button"
                        type="button"
                        size="sm"
                        fw={b.id === baseline ? 700 : 400}
                        onClick={() => navigate({ search: { baseline: b.id } })}
                      >
                        {b.name}
                      </Anchor>{' '}
                      <Text span size="xs" c="var(--ol-muted)">
                        <RelativeTime iso={b.createdAt} />
                      </Text>
                    </Table.Td>
                    <Table.Td ta="right">{b.itemCount}</Table.Td>
                    <Table.Td>
                      {b.lastGeneration ? (
                        <AnchorLink
                          to="/t/$tenantId/operations/$runId"
                          params={{ tenantId, runId: b.lastGeneration.runId }}
                          size="sm"
                        >
                          <RelativeTime iso={b.lastGeneration.createdAt} />
                        </AnchorLink>
                      ) : (
                        'never'
                      )}
                    </Table.Td>
                    {may && (
                      <Table.Td>
                        <Button
                          size="xs"
                          aria-label={`Generate drift against ${b.name}`}
                          loading={generate.isPending && generate.variables?.inputs?.baselineId === b.id}
                          onClick={() =>
                            generate.mutate({ type: 'drift.generate', inputs: { baselineId: b.id } })
                          }
                        >
                          Generate
                        </Button>
                      </Table.Td>
                    )}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </QueryState>
      {baseline && (
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Findings of the latest generation
          </Title>
          <QueryState
            q={findings}
            what="findings"
            empty={(d) =>
              d.runId === null
                ? 'No completed generation against this baseline yet.'
                : d.data.length === 0
                  ? 'No drift: the inventory matches the baseline.'
                  : null
            }
          >
            {(d) => (
              <Stack gap="xs">
                <Text size="sm">
                  Generated <RelativeTime iso={d.generatedAt} /> ·{' '}
                  <AnchorLink
                    to="/t/$tenantId/operations/$runId"
                    params={{ tenantId, runId: d.runId! }}
                    size="sm"
                  >
                    View run
                  </AnchorLink>
                </Text>
                <Table.ScrollContainer minWidth={360}>
                  <Table verticalSpacing={4} data-testid="findings">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Change</Table.Th>
                        <Table.Th>Policy</Table.Th>
                        <Table.Th>Changed paths</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {d.data.map((f) => (
                        <Table.Tr key={`${f.family}/${f.externalId}`}>
                          <Table.Td>
                            <Badge color={KIND_COLORS[f.kind]} autoContrast>
                              {f.kind}
                            </Badge>
                          </Table.Td>
                          <Table.Td>
                            {f.displayName}
                            <Text size="xs" c="var(--ol-muted)">
                              {f.family}
                            </Text>
                          </Table.Td>
                          <Table.Td className="mono" style={{ overflowWrap: 'anywhere' }}>
                            {f.changedPaths.join(', ') || '—'}
                          </Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </Table.ScrollContainer>
              </Stack>
            )}
          </QueryState>
        </Paper>
      )}
    </Stack>
  );
}
