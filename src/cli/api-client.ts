import { createParser } from 'eventsource-parser';
import createClient, { type Client } from 'openapi-fetch';
import type { paths } from '../../web/src/api/schema.d.ts';
import { AuthError, type OptionSpec, UsageError } from './command.ts';
import { safeText } from './output.ts';

/**
 * The command line's client of the HTTP API (API v1 with an API token), for the commands that
 * follow and drive runs on a server rather than on a database: like `gh`, they need only a URL
 * and a token (OPSLEDGER_URL and OPSLEDGER_TOKEN, or --url and --token-stdin / --token-file).
 *
 * It is the UI's client: openapi-fetch over the types generated from the server's OpenAPI
 * document (web/src/api/schema.d.ts, `npm run api:types`), so a route or field that changes on
 * the server fails the type check here as it does in the UI.
 */

export type Paths = paths;

export type Problem = {
  status: number;
  title: string;
  detail: string;
  errors?: { path: string; message: string }[];
};

/** The server refused: its problem details, as one line (escaped: it is the server's text). */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly problem: Problem;
  constructor(problem: Problem) {
    const fields = problem.errors?.length
      ? ` (${problem.errors.map((e) => `${e.path} ${e.message}`).join('; ')})`
      : '';
    super(safeText(`${problem.status} ${problem.title}: ${problem.detail}${fields}`.replace(/\s+/g, ' ')));
    this.problem = problem;
  }
}

export type ClientOptions = { url?: unknown; insecure?: unknown };

/** The options of every API-client command. */
export const CLIENT_OPTIONS = {
  url: { type: 'string', value: 'URL', description: 'The server (default: OPSLEDGER_URL)' },
  'token-stdin': {
    type: 'boolean',
    description: 'Read the API token from standard input (default: OPSLEDGER_TOKEN)',
  },
  'token-file': { type: 'string', value: 'FILE', description: 'Read the API token from a file' },
  token: { type: 'string', value: 'SECRET', description: 'Not taken: use OPSLEDGER_TOKEN or --token-stdin' },
  tenant: {
    type: 'string',
    value: 'ID',
    description: "The tenant (default: OPSLEDGER_TENANT, or the token's only tenant)",
  },
  insecure: { type: 'boolean', description: 'Allow http:// to a host other than this machine' },
} as const satisfies Record<string, OptionSpec>;
export const CLIENT_USAGE = '[--url URL] [--token-stdin | --token-file FILE] [--tenant ID]';

/** A token read by the program from --token-stdin or --token-file before the command runs. */
let tokenOverride: string | null = null;
export function useToken(token: string | null) {
  tokenOverride = token;
}

const LOOPBACK = /^(localhost|.*\.localhost|127(?:\.\d{1,3}){3}|\[::1\]|\[::ffff:127(?:\.\d{1,3}){3}\])$/i;

/** Whether a plain-http URL stays on this machine (where nobody can read the token on the wire). */
export const isLoopback = (host: string) => LOOPBACK.test(host);

type Fetched<T> = { data?: T; error?: unknown; response: Response };

export class ApiClient {
  readonly baseUrl: string;
  /** The typed client (openapi-fetch): `client.api.GET('/api/v1/tenants')`. */
  readonly api: Client<paths>;
  readonly #token: string;

  constructor(baseUrl: string, token: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token;
    this.api = createClient<paths>({
      baseUrl: this.baseUrl,
      headers: { authorization: `Bearer ${token}` },
    });
  }

  /**
   * From --url (else OPSLEDGER_URL) and the token (--token-stdin, --token-file, else
   * OPSLEDGER_TOKEN). No URL or a malformed one is a usage error; no token, an auth error (exit 4);
   * plain http to another machine needs --insecure.
   */
  static fromOptions(
    values: ClientOptions,
    env: Record<string, string | undefined> = process.env,
  ): ApiClient {
    const url = (typeof values.url === 'string' ? values.url : env.OPSLEDGER_URL)?.trim();
    const token = (tokenOverride ?? env.OPSLEDGER_TOKEN)?.trim();
    if (!url) throw new UsageError('no server: set OPSLEDGER_URL or pass --url');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(
        'the server URL is not a valid URL (expected https://host or http://localhost:port)',
      );
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError('the server URL must start with https:// (or http:// for this machine)');
    }
    if (parsed.protocol === 'http:' && !isLoopback(parsed.hostname) && values.insecure !== true) {
      throw new UsageError(
        `refusing plain http:// to ${safeText(parsed.host)}: the API token would cross the network in clear; use https://, or --insecure if you must`,
      );
    }
    if (!token)
      throw new AuthError('no API token: set OPSLEDGER_TOKEN, or pass --token-stdin or --token-file');
    return new ApiClient(parsed.toString(), token);
  }

  /** Unwraps an openapi-fetch answer: its body, or the server's problem as an ApiError. */
  async call<T>(pending: Promise<Fetched<T>>): Promise<T> {
    let result: Fetched<T>;
    try {
      result = await pending;
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(
        `cannot reach ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      );
    }
    const { response } = result;
    if (!response.ok) {
      const p = (result.error ?? null) as Partial<Problem> | null;
      throw new ApiError({
        status: response.status,
        title: p?.title ?? response.statusText,
        detail: p?.detail ?? 'the server gave no details',
        errors: p?.errors,
      });
    }
    return result.data as T;
  }

  /** Any route by its path (for routes the typed calls do not name); prefer `api` with `call`. */
  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let status = 0;
    const data = await this.call<T>(
      (this.api.request as any)(method.toLowerCase(), path, body === undefined ? {} : { body }).then(
        (r: Fetched<T>) => {
          status = r.response.status;
          return r;
        },
      ),
    );
    return { status, body: data };
  }

  get<T>(path: string) {
    return this.request<T>('GET', path).then((r) => r.body);
  }

  /**
   * Follows a Server-Sent Events stream, calling onEvent for each event, until `signal` aborts or
   * the server ends it. Resolves once the stream is open (the server answered 200), with a promise
   * of its end.
   */
  async stream(
    path: string,
    onEvent: (event: string, data: string) => void,
    signal: AbortSignal,
  ): Promise<{ ended: Promise<void> }> {
    const body = await this.call<ReadableStream<Uint8Array>>(
      (this.api.GET as any)(path, { parseAs: 'stream', signal, headers: { accept: 'text/event-stream' } }),
    );
    if (!body) throw new Error('the stream could not be opened');
    const parser = createParser({ onEvent: (e) => onEvent(e.event ?? 'message', e.data) });
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    const ended = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          parser.feed(value);
        }
      } catch (err) {
        if (!signal.aborted) throw err;
      }
    })();
    return { ended };
  }

  /** The token (for a command that hands it on, never to print). */
  get token() {
    return this.#token;
  }
}

export const tenantPath = (tenantId: string) => `/api/v1/tenants/${encodeURIComponent(tenantId)}`;

/**
 * The tenant a command acts on: --tenant or OPSLEDGER_TENANT, else the caller's only tenant.
 * Commands about one run may instead use `tenantOfRun` to look the run up in each of the caller's
 * tenants, since a run id names its tenant for anyone allowed to see it.
 */
export async function resolveTenant(
  client: ApiClient,
  values: { tenant?: unknown },
  env: Record<string, string | undefined> = process.env,
): Promise<string> {
  const given = (typeof values.tenant === 'string' ? values.tenant : env.OPSLEDGER_TENANT)?.trim();
  if (given) return given;
  const tenants = await client.call(client.api.GET('/api/v1/tenants'));
  if (tenants.data.length === 1) return tenants.data[0]!.id;
  if (tenants.data.length === 0) throw new Error('this token belongs to no tenant');
  throw new UsageError(
    `--tenant is required: the token's user belongs to ${tenants.data.length} tenants (${tenants.data
      .slice(0, 5)
      .map((t) => `${safeText(t.name)} ${t.id}`)
      .join(', ')}${tenants.data.length > 5 ? ', …' : ''})`,
  );
}

/** The tenant that holds a run: the given one, or the one of the caller's tenants that answers. */
export async function tenantOfRun(
  client: ApiClient,
  values: { tenant?: unknown },
  runId: string,
  env: Record<string, string | undefined> = process.env,
): Promise<string> {
  const given = (typeof values.tenant === 'string' ? values.tenant : env.OPSLEDGER_TENANT)?.trim();
  if (given) return given;
  const tenants = await client.call(client.api.GET('/api/v1/tenants'));
  for (const t of tenants.data) {
    try {
      await client.call(
        client.api.GET('/api/v1/tenants/{tenantId}/operations/{runId}', {
          params: { path: { tenantId: t.id, runId } },
        }),
      );
      return t.id;
    } catch (err) {
      if (!(err instanceof ApiError && err.problem.status === 404)) throw err;
    }
  }
  throw new ApiError({ status: 404, title: 'Not Found', detail: 'run not found' });
}
