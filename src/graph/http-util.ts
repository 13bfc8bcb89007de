// Small transport helpers for the Graph client, kept apart so client.ts
// reads as the retry/auth policy and nothing else.

import { setTimeout as delay } from 'node:timers/promises';
import type { GraphErrorCode } from './errors.ts';

export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Node's own abortable timer; an abort rejects with the signal's reason (not an AbortError). */
export const defaultSleep: SleepFn = (ms, signal) =>
  delay(ms, undefined, { signal }).catch((err) => {
    signal?.throwIfAborted();
    throw err;
  });

export function raceAbort<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function codeForStatus(status: number): GraphErrorCode {
  if (status === 401) return 'graph_auth_failed';
  if (status === 403) return 'graph_forbidden';
  if (status === 404) return 'graph_not_found';
  if (status === 429) return 'graph_throttled';
  if (status >= 500) return 'graph_unavailable';
  return 'graph_bad_request';
}

// Path only: query strings carry skiptokens that are noise in a message.
export function describeUrl(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '<invalid url>';
  }
}

export function networkReason(err: unknown): string {
  if (!(err instanceof Error)) return 'network error';
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const causeText = cause && typeof cause.code === 'string' ? ` (${cause.code})` : '';
  return `${err.message}${causeText}`;
}

export function parseErrorBody(text: string): { code?: string; message?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  if (!isRecord(parsed)) return {};
  const err = parsed.error;
  // Graph resources use {error:{code,message}}; the token endpoint uses OAuth's {error, error_description}.
  if (isRecord(err)) {
    return {
      code: typeof err.code === 'string' ? err.code : undefined,
      message: typeof err.message === 'string' ? err.message : undefined,
    };
  }
  return {
    code: typeof err === 'string' ? err : undefined,
    message: typeof parsed.error_description === 'string' ? parsed.error_description : undefined,
  };
}

/** Retry-After is either delta-seconds or an HTTP date; undefined when absent or unparseable. */
export function parseRetryAfterMs(header: string | null, nowMs: number): number | undefined {
  const trimmed = header?.trim() ?? '';
  if (trimmed === '') return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}
