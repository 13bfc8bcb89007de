import { Alert, Badge } from '@mantine/core';
import type { Run } from '../api/client.ts';
import { RelativeTime } from './Time.tsx';

/**
 * A mirrored run the periodic mirror check found disagreeing with its domain record (say, another
 * application wrote item results without updating the record): what Operations shows may not be
 * what the record says. Shown on the run page until record and run agree again.
 */
export function DivergenceNotice({ run }: { run: Run }) {
  if (!run.divergence) return null;
  return (
    <Alert
      color="orange.9"
      variant="light"
      mt="sm"
      role="status"
      data-testid="run-divergence"
      title={
        <>
          <Badge color="orange.9" mr="xs">
            Diverged
          </Badge>
          This run disagrees with its source record
        </>
      }
    >
      {run.divergence.detail} (found <RelativeTime iso={run.divergence.detectedAt} />)
    </Alert>
  );
}
