import { REDACTED, redact as redactText } from '../shared/redact.ts';
// Typed failures of the Graph access layer. Messages are built only from
// redacted text so an error can be logged, returned by the API or stored in
// the ledger without leaking the client secret or a bearer token.

export const GRAPH_ERROR_CODES = [
  'graph_forbidden',
  'graph_throttled',
  'graph_unavailable',
  'graph_timeout',
  'graph_bad_response',
  'graph_auth_failed',
  'graph_not_found',
  'graph_bad_request',
] as const;

export type GraphErrorCode = (typeof GRAPH_ERROR_CODES)[number];

export interface GraphErrorDetails {
  status?: number;
  /** Seconds the server asked us to wait (throttling), after capping. */
  retryAfterSeconds?: number;
  /** Graph's `request-id` response header, for support tickets. */
  requestId?: string;
}

export class GraphError extends Error {
  readonly code: GraphErrorCode;
  // `declare` keeps absent details absent rather than own `undefined` properties in logs.
  declare readonly status?: number;
  declare readonly retryAfterSeconds?: number;
  declare readonly requestId?: string;

  constructor(code: GraphErrorCode, message: string, details: GraphErrorDetails = {}) {
    super(message);
    this.name = 'GraphError';
    this.code = code;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterSeconds !== undefined) this.retryAfterSeconds = details.retryAfterSeconds;
    if (details.requestId !== undefined) this.requestId = details.requestId;
  }

  /** Throttling and outages are worth retrying later; the rest need a human or a code fix. */
  get transient(): boolean {
    return (
      this.code === 'graph_throttled' || this.code === 'graph_unavailable' || this.code === 'graph_timeout'
    );
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      status: this.status,
      message: this.message,
      retryAfterSeconds: this.retryAfterSeconds,
      requestId: this.requestId,
    };
  }
}

export function isGraphError(err: unknown, code?: GraphErrorCode): err is GraphError {
  return err instanceof GraphError && (code === undefined || err.code === code);
}

const MAX_DETAIL_LENGTH = 300;

/**
 * Scrubs server-provided text before it goes into an error message: a hostile or buggy server may
 * echo our Authorization header or form body back to us. The secrets we sent are cut out by
 * value (whatever their shape), then the product's one redactor removes anything that looks like
 * a credential, and the text is bounded.
 */
export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const secret of secrets) {
    // Very short strings would shred ordinary words and protect nothing.
    if (secret && secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  out = redactText(out);
  return out.length > MAX_DETAIL_LENGTH ? `${out.slice(0, MAX_DETAIL_LENGTH)}…` : out;
}
