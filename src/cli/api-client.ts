import { createParser } from 'eventsource-parser';
import { UsageError } from './command.ts';

/**
 * The command line's client of the HTTP API (API v1 with an API token), for the commands that
 * follow and drive runs on a server rather than on a database: like `gh`, they need only a URL
 * and a token (OPSLEDGER_URL, OPSLEDGER_TOKEN, or --url and --token).
 */

export type Problem = {
  status: number;
  title: string;
  detail: string;
  errors?: { path: string; message: string }[];
};

/** The server refused: its problem details, as one line. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly problem: Problem;
  constructor(problem: Problem) {
    const fields = problem.errors?.length
      ? ` (${problem.errors.map((e) => `${e.path} ${e.message}`).join('; ')})`
      : '';
    super(`${problem.status} ${problem.title}: ${problem.detail}${fields}`.replace(/\s+/g, ' '));
    this.problem = problem;
  }
}

export type ClientOptions = { url?: unknown; token?: unknown };

export class ApiClient {
  readonly baseUrl: string;
  #token: string;

  constructor(baseUrl: string, token: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token;
  }

  /** From flags, else OPSLEDGER_URL and OPSLEDGER_TOKEN; a missing or malformed one is a usage error. */
  static fromOptions(
    values: ClientOptions,
    env: Record<string, string | undefined> = process.env,
  ): ApiClient {
    const url = (typeof values.url === 'string' ? values.url : env.OPSLEDGER_URL)?.trim();
    const token = (typeof values.token === 'string' ? values.token : env.OPSLEDGER_TOKEN)?.trim();
    if (!url) throw new UsageError('no server: set OPSLEDGER_URL or pass --url');
    if (!token) throw new UsageError('no API token: set OPSLEDGER_TOKEN or pass --token');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError('the server URL is not a valid URL (expected http://host:port)');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError('the server URL must start with http:// or https://');
    }
    return new ApiClient(parsed.toString(), token);
  }

  async #fetch(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        ...init,
        headers: { authorization: `Bearer ${this.#token}`, accept: 'application/json', ...init.headers },
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(
        `cannot reach ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      );
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await this.#fetch(method, path, {
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!res.ok) {
      const p = parsed as Partial<Problem> | null;
      throw new ApiError({
        status: res.status,
        title: p?.title ?? res.statusText,
        detail: p?.detail ?? 'the server gave no details',
        errors: p?.errors,
      });
    }
    return { status: res.status, body: parsed as T };
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
    const res = await this.#fetch('GET', path, { headers: { accept: 'text/event-stream' }, signal });
    if (!res.ok || !res.body) {
      const p = (await res.json().catch(() => null)) as Partial<Problem> | null;
      throw new ApiError({
        status: res.status,
        title: p?.title ?? res.statusText,
        detail: p?.detail ?? 'the stream could not be opened',
      });
    }
    const parser = createParser({ onEvent: (e) => onEvent(e.event ?? 'message', e.data) });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
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
}

export const tenantPath = (tenantId: string) => `/api/v1/tenants/${encodeURIComponent(tenantId)}`;

/**
 * The tenant a command acts on: --tenant or OPSLEDGER_TENANT, else the caller's only tenant.
 * Commands about one run may instead pass `findRun` to look the run up in each of the caller's
 * tenants, since a run id names its tenant for anyone allowed to see it.
 */
export async function resolveTenant(
  client: ApiClient,
  values: { tenant?: unknown },
  env: Record<string, string | undefined> = process.env,
): Promise<string> {
  const given = (typeof values.tenant === 'string' ? values.tenant : env.OPSLEDGER_TENANT)?.trim();
  if (given) return given;
  const tenants = await client.get<{ data: { id: string; name: string }[] }>('/api/v1/tenants');
  if (tenants.data.length === 1) return tenants.data[0]!.id;
  if (tenants.data.length === 0) throw new Error('this token belongs to no tenant');
  throw new UsageError(
    `--tenant is required: the token's user belongs to ${tenants.data.length} tenants (${tenants.data
      .slice(0, 5)
      .map((t) => `${t.name} ${t.id}`)
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
  const tenants = await client.get<{ data: { id: string }[] }>('/api/v1/tenants');
  for (const t of tenants.data) {
    try {
      await client.get(`${tenantPath(t.id)}/operations/${encodeURIComponent(runId)}`);
      return t.id;
    } catch (err) {
      if (!(err instanceof ApiError && err.problem.status === 404)) throw err;
    }
  }
  throw new ApiError({ status: 404, title: 'Not Found', detail: 'run not found' });
}
