import { Badge } from '@mantine/core';
import type { Run } from '../api/client.ts';
import { OUTCOME_LABELS, outcomeColor, STATUS_COLORS, STATUS_LABELS } from '../vocabulary.ts';

// Badges never cut their text: no ellipsis, no shrinking; the cell around them makes room.
const WHOLE = {
  root: { flexShrink: 0, overflow: 'visible', maxWidth: 'none' },
  label: { overflow: 'visible', textOverflow: 'clip' },
} as const;

/** The outcome alone (bell, lists of finished runs). */
export function OutcomeBadge({ outcome }: { outcome: Run['outcome'] }) {
  return (
    <Badge color={outcomeColor(outcome)} autoContrast variant="filled" data-outcome={outcome} styles={WHOLE}>
      {OUTCOME_LABELS[outcome]}
    </Badge>
  );
}

/**
 * Status and outcome as one badge, colour and text together: a finished run says how it ended
 * (Succeeded, Failed…), an unfinished one where it is (Queued, Running).
 */
export function RunBadges({ run }: { run: Pick<Run, 'status' | 'outcome'> }) {
  const done = run.status === 'completed';
  return (
    <Badge
      color={done ? outcomeColor(run.outcome) : STATUS_COLORS[run.status]}
      autoContrast
      variant="filled"
      data-status={run.status}
      data-outcome={run.outcome}
      styles={WHOLE}
    >
      {done ? OUTCOME_LABELS[run.outcome] : STATUS_LABELS[run.status]}
    </Badge>
  );
}
