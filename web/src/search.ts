import type { RunOutcome, RunStatus } from './api/client.ts';
import { INITIATOR_KINDS, RUN_OUTCOMES, RUN_STATUSES } from './vocabulary.ts';

// Each route's search parameters, validated: what a page shows is all in its URL, so a copied
// link reproduces it. Kept apart from the route tree so that pages and the router both import it
// and neither imports the other.

export const str = (v: unknown, max = 300) =>
  typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined;
export const oneOf = <T extends string>(values: readonly T[], v: unknown): T | undefined =>
  values.includes(v as T) ? (v as T) : undefined;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuid = (v: unknown) => (typeof v === 'string' && UUID.test(v) ? v.toLowerCase() : undefined);

export const PAGE_SIZES = [25, 50, 100] as const;

/** The Operations list's view, all of it in the URL: a copied link reproduces it. */
export type OperationsSearch = {
  type?: string;
  status?: RunStatus;
  outcome?: RunOutcome;
  initiator?: (typeof INITIATOR_KINDS)[number];
  /** Runs one person started: `me`, or a user id (from a row's initiator). */
  by?: string;
  /** Only dry runs (true), none of them (false), or both (absent). */
  dryRun?: boolean;
  from?: string;
  to?: string;
  q?: string;
  size?: (typeof PAGE_SIZES)[number];
  cursor?: string;
  /** Cursors of the newer pages, so "newer" walks back the way "older" came. */
  back?: string[];
};

export function validateOperationsSearch(s: Record<string, unknown>): OperationsSearch {
  const day = (v: unknown) => (typeof v === 'string' && DAY.test(v) ? v : undefined);
  const back = Array.isArray(s.back)
    ? s.back.filter((c): c is string => typeof c === 'string').slice(-50)
    : [];
  const size = Number(s.size);
  return {
    type: str(s.type, 100),
    status: oneOf(RUN_STATUSES, s.status),
    outcome: oneOf(RUN_OUTCOMES, s.outcome),
    initiator: oneOf(INITIATOR_KINDS, s.initiator),
    by: s.by === 'me' ? 'me' : uuid(s.by),
    dryRun:
      s.dryRun === true || s.dryRun === 'true'
        ? true
        : s.dryRun === false || s.dryRun === 'false'
          ? false
          : undefined,
    from: day(s.from),
    to: day(s.to),
    q: str(s.q, 36),
    size: (PAGE_SIZES as readonly number[]).includes(size) ? (size as OperationsSearch['size']) : undefined,
    cursor: str(s.cursor),
    back: back.length > 0 ? back : undefined,
  };
}

/**
 * The restore wizard's choices: the backup, the items (absent: all of them), the dry run it
 * started and the record being looked at. Leaving and coming back (or reloading) loses nothing.
 */
export type RestoreSearch = { backup?: string; items?: string[]; dry?: string; record?: string };

export function validateRestoreSearch(s: Record<string, unknown>): RestoreSearch {
  const items = Array.isArray(s.items)
    ? s.items.filter((i): i is string => typeof i === 'string' && i.length <= 200).slice(0, 2000)
    : undefined;
  return { backup: uuid(s.backup), items, dry: uuid(s.dry), record: uuid(s.record) };
}

export const validateOverviewSearch = (s: Record<string, unknown>): { window?: '24h' | '7d' | '30d' } => ({
  window: oneOf(['24h', '7d', '30d'] as const, s.window),
});
