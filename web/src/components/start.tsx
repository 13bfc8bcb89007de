import { Text } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { api, ok, type Run } from '../api/client.ts';
import { applyRunEvent } from '../api/stream.ts';
import { AnchorLink } from './links.tsx';

/** After a start: say so, with a link to the run (the existing one when the start was deduplicated). */
export function announceRun(tenantId: string, run: Run, created: boolean, what: string) {
  notifications.show({
    title: created ? `${what} started` : `${what} is already running`,
    color: created ? 'teal.9' : 'blue.8',
    autoClose: 10_000,
    message: (
      <Text size="sm">
        {created ? 'It runs in the background. ' : 'The active run was opened instead of starting another. '}
        <AnchorLink
          underline="always"
          to="/t/$tenantId/operations/$runId"
          params={{ tenantId, runId: run.id }}
        >
          View run
        </AnchorLink>
      </Text>
    ),
  });
}

/**
 * Starts an operation through POST …/operations. A deduplicated start (200, created: false) goes
 * straight to the active run rather than starting a second one.
 */
export function useStartOperation(tenantId: string, what: string) {
  const client = useQueryClient();
  const navigate = useNavigate();
  return useMutation({
    mutationFn: (body: { type: string; inputs?: Record<string, unknown> }) =>
      ok(api.POST('/api/v1/tenants/{tenantId}/operations', { params: { path: { tenantId } }, body })),
    onSuccess: ({ run, created }) => {
      applyRunEvent(client, tenantId, run);
      announceRun(tenantId, run, created, what);
      if (!created) navigate({ to: '/t/$tenantId/operations/$runId', params: { tenantId, runId: run.id } });
    },
    onError: (err) =>
      notifications.show({ color: 'red.9', title: `${what} could not start`, message: err.message }),
  });
}
