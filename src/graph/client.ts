// The one way Opsledger talks to Microsoft Graph: client-credentials token,
// @odata.nextLink paging, and bounded retries that respect Retry-After.

import { NO_RUN_LOG, type RunLog } from '../shared/run-log.ts';
import { GraphError, redact } from './errors.ts';
import {
  codeForStatus,
  defaultSleep,
  describeUrl,
  isRecord,
  networkReason,
  parseErrorBody,
  parseRetryAfterMs,
  raceAbort,
  type SleepFn,
} from './http-util.ts';

export { defaultSleep, type SleepFn } from './http-util.ts';

export interface GraphClientOptions {
  /** e.g. `https://graph.microsoft.com` or the simulator's URL. */
  baseUrl: string;
  directoryId: string;
  clientId: string;
  clientSecret: string;
  /** Token authority; real tenants use `https://login.microsoftonline.com`. Defaults to baseUrl. */
  authorityUrl?: string;
  fetch?: typeof fetch;
  maxRetries?: number;
  maxRetryAfterSeconds?: number;
  requestTimeoutMs?: number;
  sleep?: SleepFn;
  now?: () => number;
  /**
   * The event log of the run this client works for: throttling waits and retries are written
   * there (redacted), so the run's page tells what Graph did to it.
   */
  log?: RunLog;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface ListOptions<T> extends RequestOptions {
  onPage?: (items: T[]) => void | Promise<void>;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

interface SendRequest {
  method: Method;
  url: string;
  body?: string;
  contentType?: string;
  authenticated: boolean;
  /** False for non-idempotent calls, which must not be repeated after an ambiguous failure. */
  idempotent: boolean;
  signal?: AbortSignal;
}

interface RawResponse {
  method: Method;
  status: number;
  text: string;
  url: string;
}

const TOKEN_SCOPE = 'https://graph.microsoft.com/.default';
const TOKEN_REFRESH_MARGIN_MS = 60_000;
const BACKOFF_BASE_MS = 500;

export class GraphClient {
  readonly baseUrl: string;
  readonly directoryId: string;
  readonly clientId: string;
  // Private fields are invisible to JSON.stringify and util.inspect, which is
  // the point: clients end up in logged objects more often than anyone plans.
  #clientSecret: string;
  #authorityUrl: string;
  #fetch: typeof fetch;
  #maxRetries: number;
  #maxRetryAfterMs: number;
  #requestTimeoutMs: number;
  #sleep: SleepFn;
  #now: () => number;
  #log: RunLog;
  #token: { value: string; expiresAt: number } | undefined;
  #tokenInFlight: Promise<string> | undefined;

  constructor(opts: GraphClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.directoryId = opts.directoryId;
    this.clientId = opts.clientId;
    this.#clientSecret = opts.clientSecret;
    this.#authorityUrl = (opts.authorityUrl ?? opts.baseUrl).replace(/\/+$/, '');
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#maxRetries = Math.max(0, opts.maxRetries ?? 4);
    this.#maxRetryAfterMs = Math.max(0, opts.maxRetryAfterSeconds ?? 30) * 1000;
    this.#requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.#sleep = opts.sleep ?? defaultSleep;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? NO_RUN_LOG;
  }

  async listAll<T>(path: string, opts: ListOptions<T> = {}): Promise<T[]> {
    const all: T[] = [];
    for await (const page of this.iteratePages<T>(path, { signal: opts.signal })) {
      if (opts.onPage) await opts.onPage(page);
      opts.signal?.throwIfAborted();
      for (const item of page) all.push(item);
    }
    return all;
  }

  async *iteratePages<T>(path: string, opts: RequestOptions = {}): AsyncGenerator<T[], void, undefined> {
    let url: string | undefined = this.#resourceUrl(path);
    const seen = new Set<string>();
    let pageIndex = 0;
    while (url !== undefined) {
      seen.add(url);
      const res = await this.#send({
        method: 'GET',
        url,
        authenticated: true,
        idempotent: true,
        signal: opts.signal,
      });
      const { items, nextLink } = this.#parsePage<T>(res, pageIndex);
      if (nextLink !== undefined && seen.has(nextLink)) {
        throw this.#badResponse(res, `page ${pageIndex} links back to an earlier page`);
      }
      url = nextLink;
      pageIndex++;
      yield items;
    }
  }

  async get<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.#send({
      method: 'GET',
      url: this.#resourceUrl(path),
      authenticated: true,
      idempotent: true,
      signal: opts.signal,
    });
    return this.#parseJson<T>(res, true);
  }

  async post<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    const res = await this.#send({
      method: 'POST',
      url: this.#resourceUrl(path),
      body: JSON.stringify(body),
      contentType: 'application/json',
      authenticated: true,
      idempotent: false,
      signal: opts.signal,
    });
    return this.#parseJson<T>(res, false);
  }

  async patch<T = void>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> {
    const res = await this.#send({
      method: 'PATCH',
      url: this.#resourceUrl(path),
      body: JSON.stringify(body),
      contentType: 'application/json',
      authenticated: true,
      idempotent: true,
      signal: opts.signal,
    });
    return this.#parseJson<T>(res, false);
  }

  async delete(path: string, opts: RequestOptions = {}): Promise<void> {
    await this.#send({
      method: 'DELETE',
      url: this.#resourceUrl(path),
      authenticated: true,
      idempotent: true,
      signal: opts.signal,
    });
  }

  #resourceUrl(path: string): string {
    if (/^https?:\/\//i.test(path)) return this.#checkSameOrigin(path);
    if (!path.startsWith('/')) throw new TypeError(`Graph path must start with '/': ${path}`);
    return `${this.baseUrl}/v1.0${path}`;
  }

  // Our bearer token goes to whatever URL a nextLink names, so only follow
  // links that stay on the Graph endpoint we were configured with.
  #checkSameOrigin(url: string): string {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new GraphError('graph_bad_response', 'Graph returned an unparseable @odata.nextLink');
    }
    if (parsed.origin !== new URL(this.baseUrl).origin) {
      throw new GraphError(
        'graph_bad_response',
        `Graph returned an @odata.nextLink to a different origin (${parsed.origin}); refusing to follow it`,
      );
    }
    return url;
  }

  #parsePage<T>(res: RawResponse, pageIndex: number): { items: T[]; nextLink?: string } {
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.text);
    } catch {
      throw this.#badResponse(res, `page ${pageIndex} is not valid JSON`);
    }
    if (!isRecord(parsed) || !Array.isArray(parsed.value)) {
      throw this.#badResponse(res, `page ${pageIndex} has no 'value' array`);
    }
    const next = parsed['@odata.nextLink'];
    if (next === undefined || next === null) return { items: parsed.value as T[] };
    if (typeof next !== 'string') throw this.#badResponse(res, `page ${pageIndex} has a non-string nextLink`);
    return { items: parsed.value as T[], nextLink: this.#checkSameOrigin(next) };
  }

  #parseJson<T>(res: RawResponse, required: boolean): T {
    if (res.text === '' && !required) return undefined as T;
    try {
      return JSON.parse(res.text) as T;
    } catch {
      throw this.#badResponse(res, 'response body is not valid JSON');
    }
  }

  #badResponse(res: RawResponse, what: string): GraphError {
    return new GraphError('graph_bad_response', `Graph ${res.method} ${describeUrl(res.url)}: ${what}`, {
      status: res.status,
    });
  }

  async #getToken(signal?: AbortSignal): Promise<string> {
    const cached = this.#token;
    if (cached && this.#now() < cached.expiresAt) return cached.value;
    if (!this.#tokenInFlight) {
      // Shared by concurrent callers; it ignores any one caller's signal so
      // one abort cannot fail everyone else's token request.
      const inFlight = this.#fetchToken().finally(() => {
        this.#tokenInFlight = undefined;
      });
      inFlight.catch(() => {});
      this.#tokenInFlight = inFlight;
    }
    return raceAbort(this.#tokenInFlight, signal);
  }

  async #fetchToken(): Promise<string> {
    const url = `${this.#authorityUrl}/${encodeURIComponent(this.directoryId)}/oauth2/v2.0/token`;
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.clientId,
      client_secret: this.#clientSecret,
      scope: TOKEN_SCOPE,
    }).toString();
    const res = await this.#send({
      method: 'POST',
      url,
      body,
      contentType: 'application/x-www-form-urlencoded',
      authenticated: false,
      idempotent: true,
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.text);
    } catch {
      throw new GraphError('graph_auth_failed', 'token endpoint returned a non-JSON response', {
        status: res.status,
      });
    }
    const token = isRecord(parsed) ? parsed.access_token : undefined;
    const expiresIn = isRecord(parsed) ? Number(parsed.expires_in) : Number.NaN;
    if (typeof token !== 'string' || token === '' || !Number.isFinite(expiresIn)) {
      throw new GraphError('graph_auth_failed', 'token endpoint response lacks access_token or expires_in', {
        status: res.status,
      });
    }
    this.#token = {
      value: token,
      expiresAt: this.#now() + Math.max(0, expiresIn * 1000 - TOKEN_REFRESH_MARGIN_MS),
    };
    return token;
  }

  async #send(req: SendRequest): Promise<RawResponse> {
    const { signal } = req;
    let attempt = 0;
    let refreshedToken = false;
    for (;;) {
      signal?.throwIfAborted();
      const headers: Record<string, string> = { accept: 'application/json' };
      if (req.contentType) headers['content-type'] = req.contentType;
      let token: string | undefined;
      if (req.authenticated) {
        token = await this.#getToken(signal);
        headers.authorization = `Bearer ${token}`;
      }
      const timeout = AbortSignal.timeout(this.#requestTimeoutMs);
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      let res: Response;
      let text: string;
      try {
        res = await this.#fetch(req.url, { method: req.method, headers, body: req.body, signal: combined });
        text = await res.text();
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        // "Try", not "attempt": attempts are the run's (the ledger counts them); these are one
        // request's tries inside one attempt.
        const failure = timeout.aborted
          ? new GraphError(
              'graph_timeout',
              `${this.#label(req)} timed out after ${this.#requestTimeoutMs} ms (try ${attempt + 1} of ${this.#maxRetries + 1})`,
            )
          : new GraphError(
              'graph_unavailable',
              `${this.#label(req)} failed: ${this.#redact(networkReason(err), token)} (try ${attempt + 1} of ${this.#maxRetries + 1})`,
            );
        if (!req.idempotent || attempt >= this.#maxRetries) throw failure;
        const backoff = this.#backoffMs(attempt);
        this.#log.event('graph.retry', 'warn', `${failure.message}; retrying in ${backoff} ms`, {
          code: failure.code,
          waitMs: backoff,
          try: attempt + 1,
        });
        await this.#wait(backoff, signal);
        attempt++;
        continue;
      }

      if (res.ok) return { method: req.method, status: res.status, text, url: req.url };

      if (res.status === 401 && req.authenticated && !refreshedToken) {
        // Tokens can be revoked or rotated early; one fresh token is worth a try.
        refreshedToken = true;
        if (this.#token?.value === token) this.#token = undefined;
        continue;
      }
      // 429 and 503 mean the request was not processed, so even a POST may be
      // repeated; 502/504 are ambiguous and only safe for idempotent calls.
      const retryable =
        res.status === 429 ||
        res.status === 503 ||
        (req.idempotent && (res.status === 502 || res.status === 504));
      const waitMs = retryable ? this.#retryDelayMs(res.headers.get('retry-after'), attempt) : 0;
      if (retryable && attempt < this.#maxRetries) {
        const throttled = res.status === 429 || res.status === 503;
        this.#log.event(
          throttled ? 'graph.throttled' : 'graph.retry',
          'warn',
          `${this.#label(req)} ${throttled ? 'was throttled' : 'failed'} with HTTP ${res.status}; waiting ${waitMs} ms before try ${attempt + 2} of ${this.#maxRetries + 1}`,
          {
            status: res.status,
            waitMs,
            try: attempt + 1,
            ...(res.headers.get('retry-after')
              ? { retryAfter: redact(res.headers.get('retry-after')!).slice(0, 40) }
              : {}),
          },
        );
        await this.#wait(waitMs, signal);
        attempt++;
        continue;
      }
      throw this.#statusError(req, res, text, token, retryable ? waitMs : undefined);
    }
  }

  async #wait(ms: number, signal?: AbortSignal): Promise<void> {
    await this.#sleep(ms, signal);
    // An injected sleep may not honour the signal; abort must still win.
    signal?.throwIfAborted();
  }

  #retryDelayMs(header: string | null, attempt: number): number {
    const ms = parseRetryAfterMs(header, this.#now());
    return ms === undefined ? this.#backoffMs(attempt) : Math.min(ms, this.#maxRetryAfterMs);
  }

  #backoffMs(attempt: number): number {
    const ceiling = Math.min(BACKOFF_BASE_MS * 2 ** attempt, this.#maxRetryAfterMs);
    // Jitter spreads out many workers that were throttled at the same moment.
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #statusError(
    req: SendRequest,
    res: Response,
    text: string,
    token: string | undefined,
    waitMs: number | undefined,
  ): GraphError {
    const { code: serverCode, message: serverMessage } = parseErrorBody(text);
    const isTokenCall = !req.authenticated;
    const code =
      isTokenCall && res.status < 500 && res.status !== 429 ? 'graph_auth_failed' : codeForStatus(res.status);
    const detail = [serverCode, serverMessage].filter(Boolean).join(': ');
    const tries = waitMs === undefined ? '' : ` after ${this.#maxRetries + 1} tries`;
    const message = `${this.#label(req)} failed with HTTP ${res.status}${tries}${detail ? ` (${this.#redact(detail, token)})` : ''}`;
    const requestId = res.headers.get('request-id') ?? undefined;
    return new GraphError(code, message, {
      status: res.status,
      retryAfterSeconds: waitMs === undefined ? undefined : Math.round(waitMs / 1000),
      requestId: requestId === undefined ? undefined : redact(requestId).slice(0, 64),
    });
  }

  #label(req: SendRequest): string {
    return req.authenticated
      ? `Graph ${req.method} ${describeUrl(req.url)}`
      : `token request for directory ${this.directoryId}`;
  }

  #redact(text: string, token: string | undefined): string {
    const secret = this.#clientSecret;
    // Servers echo form bodies back URL-encoded, so scrub those spellings too.
    const encoded = [encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)];
    return redact(text, [secret, ...encoded, token, this.#token?.value]);
  }
}
