import { Group, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { runListQuery } from '../api/queries.ts';
import { AnchorLink } from './links.tsx';
import { RunBadges } from './RunBadges.tsx';
import { RelativeTime } from './Time.tsx';

/** The newest run of a type, kept current by the live stream (it is a list query like any other). */
export function LastRun({ tenantId, type, label }: { tenantId: string; type: string; label: string }) {
  const q = useQuery(runListQuery(tenantId, { type, limit: 1 }));
  const run = q.data?.data[0];
  return (
    <Group gap="xs" data-testid={`last-${type}`}>
      <Text size="sm" fw={600}>
        {label}:
      </Text>
      {q.isPending ? (
        <Text size="sm">loading…</Text>
      ) : !run ? (
        <Text size="sm">never</Text>
      ) : (
        <>
          <AnchorLink to="/t/$tenantId/operations/$runId" params={{ tenantId, runId: run.id }} size="sm">
            <RelativeTime iso={run.createdAt} />
          </AnchorLink>
          <RunBadges run={run} />
        </>
      )}
    </Group>
  );
}
