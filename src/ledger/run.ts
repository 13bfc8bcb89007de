import type { Selectable } from 'kysely';
import { redact } from '../shared/redact.ts';
import { iso } from '../shared/time.ts';
import type { FailureEntry, InitiatorKind, OperationRunsTable, RunOutcome, RunStatus } from './tables.ts';

export type { FailureEntry, InitiatorKind, RunOutcome, RunStatus };

export type RunRow = Selectable<OperationRunsTable>;

export type Initiator = { kind: InitiatorKind; userId?: string | null; name?: string | null };

/** The run as the API and the UI see it (PRODUCT.md §5). */
export type Run = {
  id: string;
  /** The run's number in its tenant (#1, #2, …): short, unique in the tenant, never reused. */
  number: number;
  tenantId: string;
  type: string;
  typeLabel: string;
  /** What this run is, in words: "Restore (dry run) of Nightly — 3 items". */
  title: string;
  /** A short qualifier shown beside the type, e.g. "Dry run"; null when there is none. */
  tag: string | null;
  status: RunStatus;
  outcome: RunOutcome;
  initiator: { kind: InitiatorKind; userId: string | null; name: string };
  summaryCounts: Record<string, number>;
  failureSummary: FailureEntry[];
  /** Every failure the run reported, grouped by code, most frequent first. */
  failureGroups: { code: string; count: number }[];
  context: Record<string, unknown>;
  source: { type: string; id: string } | null;
  retryOf: string | null;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  /** A mirror that disagrees with its domain record, as the periodic mirror check found it; else null. */
  divergence: { detectedAt: string; detail: string } | null;
};

export type RunDescriber = (
  type: string,
  run: { inputs: Record<string, unknown>; links: Record<string, string>; counts: Record<string, number> },
) => { title: string; tag: string | null };

/** The one presenter of a run, for the API, the stream and the command line alike. */
export function presentRun(row: RunRow, typeLabel: string, describe?: RunDescriber): Run {
  const createdAt = iso(row.created_at)!;
  const startedAt = iso(row.started_at);
  const completedAt = iso(row.completed_at);
  const context = (row.context ?? {}) as { inputs?: Record<string, unknown>; links?: Record<string, string> };
  const counts = row.summary_counts ?? {};
  const { title, tag } = describe
    ? describe(row.type, { inputs: context.inputs ?? {}, links: context.links ?? {}, counts })
    : { title: typeLabel, tag: null };
  return {
    id: row.id,
    number: Number(row.run_number),
    tenantId: row.tenant_id,
    type: row.type,
    typeLabel,
    title,
    tag,
    status: row.status,
    outcome: row.outcome,
    initiator: { kind: row.initiator_kind, userId: row.initiator_user_id, name: row.initiator_name },
    summaryCounts: counts,
    // Redacted again on the way out: a mirror may carry text another application wrote (redaction
    // is idempotent, so what was redacted before it was stored reads the same).
    failureSummary: (row.failure_summary ?? []).map((f) => ({
      code: f.code,
      message: redact(f.message),
      ...(typeof f.attempt === 'number' ? { attempt: f.attempt } : {}),
      ...(typeof f.item === 'string' ? { item: redact(f.item) } : {}),
    })),
    failureGroups: groupFailures(row),
    context: row.context ?? {},
    source: row.source_type && row.source_id ? { type: row.source_type, id: row.source_id } : null,
    retryOf: row.retry_of_run_id,
    attempts: row.attempts,
    createdAt,
    startedAt,
    completedAt,
    durationMs:
      startedAt !== null && completedAt !== null
        ? Math.max(0, Date.parse(completedAt) - Date.parse(startedAt))
        : null,
    divergence: row.divergence
      ? { detectedAt: row.divergence.detectedAt, detail: redact(row.divergence.detail) }
      : null,
  };
}

/**
 * Failures by code: the counts kept over everything reported when there are any, else the stored
 * entries themselves (a run written before counts were kept, a mirror).
 */
function groupFailures(row: RunRow): { code: string; count: number }[] {
  const counts: Record<string, number> = { ...(row.failure_counts ?? {}) };
  if (Object.keys(counts).length === 0) {
    for (const f of row.failure_summary ?? []) {
      if (f.code === 'truncated') continue;
      counts[f.code] = (counts[f.code] ?? 0) + 1;
    }
  }
  return Object.entries(counts)
    .filter(([, n]) => Number.isSafeInteger(n) && n > 0)
    .map(([code, count]) => ({ code, count }))
    .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
}
