import { Badge, Group } from '@mantine/core';
import type { Run } from '../api/client.ts';
import { OUTCOME_LABELS, outcomeColor, STATUS_COLORS, STATUS_LABELS } from '../vocabulary.ts';

/** Status and outcome as badges: colour and text together, never colour alone. */
export function StatusBadge({ status }: { status: Run['status'] }) {
  return (
    <Badge color={STATUS_COLORS[status]} autoContrast variant="filled" data-status={status}>
      {STATUS_LABELS[status]}
    </Badge>
  );
}

export function OutcomeBadge({ outcome }: { outcome: Run['outcome'] }) {
  return (
    <Badge color={outcomeColor(outcome)} autoContrast variant="filled" data-outcome={outcome}>
      {OUTCOME_LABELS[outcome]}
    </Badge>
  );
}

export function RunBadges({ run }: { run: Pick<Run, 'status' | 'outcome'> }) {
  return (
    <Group gap={4} wrap="nowrap">
      <StatusBadge status={run.status} />
      {run.outcome !== 'pending' && <OutcomeBadge outcome={run.outcome} />}
    </Group>
  );
}
