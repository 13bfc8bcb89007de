import { redact, redactDeep } from '../shared/redact.ts';

/**
 * Failure entries as stored in `failure_summary`: a stable code, the full redacted message up to a
 * generous bound (so a Graph error reads to its end), the run's attempt it belongs to and the item
 * it concerns (a policy family, a restored item). The list is bounded; counts by code over every
 * failure reported are kept beside it (`failureCounts`).
 */

export const FAILURE_LIMITS = {
  maxEntries: 20,
  maxMessageLength: 4000,
  maxCodeLength: 64,
  maxItemLength: 200,
} as const;

export type FailureEntry = { code: string; message: string; attempt?: number; item?: string };

const CODE_RE = /^[a-z0-9_.-]+$/i;

/** A valid error code as given (short, `[a-z0-9_.-]`, not secret), lowercased; else null. */
function acceptCode(code: unknown): string | null {
  if (typeof code !== 'string' || code.length === 0 || code.length > FAILURE_LIMITS.maxCodeLength)
    return null;
  if (!CODE_RE.test(code) || redact(code) !== code) return null;
  return code.toLowerCase();
}

/** Coerces any code into the allowed shape (used when re-sanitising stored entries). */
function boundCode(code: unknown): string {
  if (typeof code !== 'string') return 'error';
  const cleaned = redact(code)
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '_')
    .slice(0, FAILURE_LIMITS.maxCodeLength);
  return cleaned === '' ? 'error' : cleaned;
}

function boundMessage(message: string): string {
  let text = redact(message).replace(/\s+/g, ' ').trim();
  // Collapsing whitespace can join pieces that only now read as a secret.
  text = redact(text);
  const max = FAILURE_LIMITS.maxMessageLength;
  if (text.length <= max) return text;
  let cut = max;
  const lastCode = text.charCodeAt(cut - 1);
  if (lastCode >= 0xd800 && lastCode <= 0xdbff) cut -= 1; // don't split a surrogate pair
  return `${text.slice(0, cut)}…`;
}

function boundItem(item: unknown): string | null {
  if (typeof item !== 'string' && typeof item !== 'number') return null;
  const text = redact(String(item)).replace(/\s+/g, ' ').trim().slice(0, FAILURE_LIMITS.maxItemLength);
  return text === '' ? null : text;
}

/** Failures by (bounded) code: what the detail groups them by, over every entry reported. */
export function failureCounts(entries: FailureEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entry of Array.isArray(entries) ? entries : []) {
    const code = boundCode((entry as { code?: unknown })?.code);
    counts[code] = (counts[code] ?? 0) + 1;
  }
  return counts;
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return 'Unknown error';
  if (typeof value === 'string') return value;
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  if (typeof value !== 'object') return String(value);
  try {
    const json = JSON.stringify(redactDeep(value));
    if (typeof json === 'string') return json;
  } catch {
    // fall through
  }
  return Object.prototype.toString.call(value);
}

function errorLike(value: unknown): { message: string; code?: unknown; name?: unknown } | null {
  if (value instanceof Error) return value;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { message?: unknown }).message === 'string'
  ) {
    return value as { message: string };
  }
  return null;
}

/**
 * Turns anything thrown into a bounded, redacted `{code, message}`.
 * Never includes stack traces.
 */
export function toFailureEntry(err: unknown, fallbackCode = 'error'): FailureEntry {
  const fallback = boundCode(fallbackCode);
  const e = errorLike(err);
  if (e !== null) {
    const name = typeof e.name === 'string' && e.name !== '' ? e.name : 'Error';
    const message = e.message.trim() === '' ? name : e.message;
    return { code: acceptCode(e.code) ?? fallback, message: boundMessage(message) };
  }
  return { code: fallback, message: boundMessage(describe(err)) };
}

/**
 * Re-sanitises entries (redact, bound code and message) and keeps at most
 * `maxEntries`; when there are more, the last slot says how many were dropped.
 */
export function boundFailures(entries: FailureEntry[]): FailureEntry[] {
  const list: unknown[] = Array.isArray(entries) ? entries : [];
  const sanitize = (entry: unknown): FailureEntry => {
    const e = (typeof entry === 'object' && entry !== null ? entry : { message: entry }) as Partial<
      Record<'code' | 'message' | 'attempt' | 'item', unknown>
    >;
    const message = typeof e.message === 'string' ? e.message : describe(e.message);
    const out: FailureEntry = { code: boundCode(e.code), message: boundMessage(message) };
    if (Number.isSafeInteger(e.attempt) && (e.attempt as number) >= 0) out.attempt = e.attempt as number;
    const item = boundItem(e.item);
    if (item !== null) out.item = item;
    return out;
  };
  const max = FAILURE_LIMITS.maxEntries;
  if (list.length <= max) return list.map(sanitize);
  const kept = list.slice(0, max - 1).map(sanitize);
  kept.push({ code: 'truncated', message: `${list.length - (max - 1)} more failures not shown` });
  return kept;
}
