import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Run = components['schemas']['Run'];
/** A run as its own page reads it: with the runs that retry it. */
export type RunDetail = Json<'/api/v1/tenants/{tenantId}/operations/{runId}', 'get'>;
export type BulkRetryResult = Json<
  '/api/v1/tenants/{tenantId}/operations/bulk-retry',
  'post'
>['results'][number];
export type BulkCancelResult = Json<
  '/api/v1/tenants/{tenantId}/operations/bulk-cancel',
  'post'
>['results'][number];
export type RunStatus = Run['status'];
export type RunOutcome = Run['outcome'];
type Json<P extends keyof paths, M extends 'get' | 'post'> = paths[P][M] extends {
  responses: infer R;
}
  ? R extends { 200: { content: { 'application/json': infer B } } }
    ? B
    : R extends { 202: { content: { 'application/json': infer B } } }
      ? B
      : never
  : never;
export type Me = Json<'/api/v1/me', 'get'>;
export type Tenant = Json<'/api/v1/tenants', 'get'>['data'][number];
export type Stats = Json<'/api/v1/tenants/{tenantId}/operations/stats', 'get'>;
export type Insights = Json<'/api/v1/tenants/{tenantId}/operations/insights', 'get'>;
export type InventoryFamily = Json<'/api/v1/tenants/{tenantId}/inventory', 'get'>['data'][number];
export type BackupSet = Json<'/api/v1/tenants/{tenantId}/backup-sets', 'get'>['data'][number];
export type BackupItem = Json<
  '/api/v1/tenants/{tenantId}/backup-sets/{backupSetId}/items',
  'get'
>['data'][number];
export type DriftBaseline = Json<'/api/v1/tenants/{tenantId}/drift/baselines', 'get'>['data'][number];
export type DriftFindings = Json<'/api/v1/tenants/{tenantId}/drift/baselines/{baselineId}/findings', 'get'>;
export type ListQuery = NonNullable<
  paths['/api/v1/tenants/{tenantId}/operations']['get']['parameters']['query']
>;

/** One field's problem in a 400 answer: `path` is a JSON pointer (`/body/url`, or `/url`). */
export type FieldProblem = { path: string; message: string };

/** A problem-JSON answer (RFC 9457), thrown so react-query sees the failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: FieldProblem[] = [],
  ) {
    super(detail || title);
  }
}

/** The ApiError of a failed answer, from its problem JSON. */
export function problemOf(response: Response, error: unknown): ApiError {
  const p = (error ?? {}) as { title?: string; detail?: string; errors?: unknown };
  const errors = Array.isArray(p.errors)
    ? p.errors.filter(
        (e): e is FieldProblem =>
          typeof e === 'object' && e !== null && typeof e.path === 'string' && typeof e.message === 'string',
      )
    : [];
  return new ApiError(response.status, p.title ?? response.statusText, p.detail ?? '', errors);
}

let csrfToken: string | null = null;
/** Login and GET /api/v1/me hand out the token every cookie-authenticated write must send. */
export function setCsrfToken(token: string | null) {
  csrfToken = token;
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (request.method !== 'GET' && csrfToken) request.headers.set('x-csrf-token', csrfToken);
    return request;
  },
};

/** The one client of API v1, typed from the server's OpenAPI document (schema.d.ts). */
export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: 'same-origin' });
api.use(csrf);

type Result<T> = { data?: T; error?: unknown; response: Response };

/** Unwraps an openapi-fetch result: the body, or an ApiError from the problem JSON. */
export async function ok<T>(promise: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await promise;
  if (response.ok && data !== undefined) return data;
  throw problemOf(response, error);
}

/** A write answered `204 No Content`: nothing to read, only whether it was done. */
export async function done(promise: Promise<{ error?: unknown; response: Response }>): Promise<void> {
  const { error, response } = await promise;
  if (!response.ok) throw problemOf(response, error);
}

export type AlertTarget = components['schemas']['AlertTarget'];
export type AlertDelivery = Json<
  '/api/v1/tenants/{tenantId}/alert-targets/{targetId}/deliveries',
  'get'
>['data'][number];

export type RestoreRun = Json<'/api/v1/tenants/{tenantId}/restore-runs/{restoreRunId}', 'get'>;
