import {
  INITIATOR_KINDS,
  OUTCOME_LABELS,
  OUTCOME_TONES,
  RETRYABLE_OUTCOMES,
  RUN_OUTCOMES,
  RUN_STATUSES,
  STATUS_LABELS,
} from '../../src/ledger/vocabulary.ts';
import type { RunOutcome, RunStatus } from './api/client.ts';

// The ledger's words come from the server's own vocabulary module (one source for both); the UI
// only decides which colour each tone gets, here and nowhere else. Every colour is used with text
// (a badge's label), never alone, and each pair meets WCAG AA contrast.
export { INITIATOR_KINDS, OUTCOME_LABELS, RETRYABLE_OUTCOMES, RUN_OUTCOMES, RUN_STATUSES, STATUS_LABELS };

type Tone = (typeof OUTCOME_TONES)[RunOutcome];
const TONE_COLORS: Record<Tone, string> = {
  neutral: 'gray.3',
  success: 'teal.9',
  warning: 'yellow.4',
  danger: 'red.9',
  muted: 'gray.7',
};
export const outcomeColor = (o: RunOutcome) => TONE_COLORS[OUTCOME_TONES[o]];

export const STATUS_COLORS: Record<RunStatus, string> = {
  queued: 'gray.3',
  running: 'blue.8',
  completed: 'dark.5',
};

/** Chart colours per outcome (bars need a colour per series; the legend and tooltip carry the text). */
export const OUTCOME_CHART_COLORS: Record<RunOutcome, string> = {
  pending: 'gray.5',
  succeeded: 'teal.7',
  partially_succeeded: 'yellow.6',
  failed: 'red.7',
  cancelled: 'gray.7',
};

export const INITIATOR_LABELS: Record<(typeof INITIATOR_KINDS)[number], string> = {
  user: 'User',
  api: 'API token',
  schedule: 'Schedule',
  system: 'System',
};

export const ROLE_MAY_OPERATE = (role: string | undefined) => role === 'owner' || role === 'operator';

export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s % 60);
  if (m < 60) return `${m} min ${rest} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts).filter(([, v]) => v !== 0);
  if (parts.length === 0) return '—';
  return parts.map(([k, v]) => `${v} ${k}`).join(', ');
}

/** A stats row's name: a type's dry runs are a row of their own, "Restore (dry run)". */
export const statsRowLabel = (row: { typeLabel: string; dryRun: boolean }) =>
  row.dryRun ? `${row.typeLabel} (dry run)` : row.typeLabel;
