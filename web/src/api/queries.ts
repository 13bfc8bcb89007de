import { queryOptions, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { ApiError, api, type ListQuery, ok, setCsrfToken } from './client.ts';

/**
 * Every read of the UI, keyed here and nowhere else, so the live stream can update or re-read
 * them: a tenant's runs all live under ['runs', tenantId].
 */
export const keys = {
  me: ['me'] as const,
  tenants: ['tenants'] as const,
  types: ['operation-types'] as const,
  runs: (tenantId: string) => ['runs', tenantId] as const,
  runList: (tenantId: string, query: ListQuery) => ['runs', tenantId, 'list', query] as const,
  run: (tenantId: string, runId: string) => ['runs', tenantId, 'one', runId] as const,
  count: (tenantId: string, query?: ListQuery) =>
    query ? (['count', tenantId, query] as const) : (['count', tenantId] as const),
  bell: (tenantId: string, userId?: string) =>
    userId ? (['bell', tenantId, userId] as const) : (['bell', tenantId] as const),
  stats: (tenantId: string, window?: string) =>
    window ? (['stats', tenantId, window] as const) : (['stats', tenantId] as const),
  inventory: (tenantId: string) => ['inventory', tenantId] as const,
  inventoryItems: (tenantId: string, family: string | undefined) =>
    ['inventory', tenantId, 'items', family] as const,
  schedules: (tenantId: string) => ['schedules', tenantId] as const,
  invitations: (tenantId: string) => ['invitations', tenantId] as const,
  tokens: ['me', 'tokens'] as const,
  backupSets: (tenantId: string) => ['backup-sets', tenantId] as const,
  backupItems: (tenantId: string, setId: string) => ['backup-sets', tenantId, setId] as const,
  drift: (tenantId: string) => ['drift', tenantId] as const,
  findings: (tenantId: string, baselineId: string) => ['drift', tenantId, baselineId] as const,
  restoreRuns: (tenantId: string) => ['restore-runs', tenantId] as const,
  restoreRun: (tenantId: string, id: string) => ['restore-runs', tenantId, id] as const,
  alertTargets: (tenantId: string) => ['alert-targets', tenantId] as const,
  alertDeliveries: (tenantId: string, targetId: string) =>
    ['alert-targets', tenantId, targetId, 'deliveries'] as const,
};

/** Set at sign-in and cleared at sign-out, so a signed-out visit goes to sign-in without a 401. */
export const SIGNED_IN_KEY = 'opsledger.signedIn';

/**
 * What the page does once the server has ended its session (sign out, sign out everywhere): forget
 * the CSRF token, leave for the sign-in page, then drop every cached read. In that order: a cache
 * cleared under the signed-in pages would make their queries read again, unauthorised.
 */
export function useSignedOut(): () => Promise<void> {
  const client = useQueryClient();
  const navigate = useNavigate();
  return async () => {
    setCsrfToken(null);
    localStorage.removeItem(SIGNED_IN_KEY);
    await navigate({ to: '/sign-in', search: {} });
    client.clear();
  };
}

export const meQuery = queryOptions({
  queryKey: keys.me,
  queryFn: async () => {
    if (localStorage.getItem(SIGNED_IN_KEY) !== '1') throw new ApiError(401, 'Unauthorized', 'not signed in');
    const me = await ok(api.GET('/api/v1/me'));
    setCsrfToken(me.csrfToken);
    return me;
  },
  staleTime: Number.POSITIVE_INFINITY,
  retry: false,
});

export const tenantsQuery = queryOptions({
  queryKey: keys.tenants,
  queryFn: async () => (await ok(api.GET('/api/v1/tenants'))).data,
  staleTime: 60_000,
});

export const runListQuery = (tenantId: string, query: ListQuery) =>
  queryOptions({
    queryKey: keys.runList(tenantId, query),
    queryFn: () =>
      ok(api.GET('/api/v1/tenants/{tenantId}/operations', { params: { path: { tenantId }, query } })),
    staleTime: Number.POSITIVE_INFINITY, // the stream keeps it current
  });

/**
 * One run, read through GET …/operations/{id} (the detail read, which falls back from a lagging
 * replica to the primary), with the runs that retry it. An unknown id, or another tenant's, is a
 * 404 like any other: the page shows "not found".
 */
export const runQuery = (tenantId: string, runId: string) =>
  queryOptions({
    queryKey: keys.run(tenantId, runId),
    queryFn: () =>
      ok(
        api.GET('/api/v1/tenants/{tenantId}/operations/{runId}', {
          params: { path: { tenantId, runId: runId.toLowerCase() } },
        }),
      ),
    staleTime: Number.POSITIVE_INFINITY, // the stream keeps it current
    retry: false,
  });

/** How many runs a list's filters match (bounded by the server at 1,000). */
export const countQuery = (tenantId: string, query: ListQuery) => {
  const { cursor: _c, limit: _l, ...filters } = query;
  return queryOptions({
    queryKey: keys.count(tenantId, filters),
    queryFn: () =>
      ok(
        api.GET('/api/v1/tenants/{tenantId}/operations/count', {
          params: { path: { tenantId }, query: filters },
        }),
      ),
    staleTime: 30_000,
  });
};

/** The caller's own runs that finished since `since`: the server filters, the bell only shows. */
export const bellQuery = (tenantId: string, userId: string, since: string) =>
  queryOptions({
    queryKey: keys.bell(tenantId, userId),
    queryFn: async () =>
      (
        await ok(
          api.GET('/api/v1/tenants/{tenantId}/operations', {
            params: {
              path: { tenantId },
              query: { initiatorUserId: userId, status: 'completed', since, limit: 20 },
            },
          }),
        )
      ).data,
  });

export const typesQuery = queryOptions({
  queryKey: keys.types,
  queryFn: async () => (await ok(api.GET('/api/v1/operation-types'))).data,
  staleTime: Number.POSITIVE_INFINITY,
});

export const statsQuery = (tenantId: string, window: '24h' | '7d' | '30d') =>
  queryOptions({
    queryKey: keys.stats(tenantId, window),
    queryFn: () =>
      ok(
        api.GET('/api/v1/tenants/{tenantId}/operations/stats', {
          params: { path: { tenantId }, query: { window } },
        }),
      ),
  });

export const insightsQuery = (tenantId: string, window: '24h' | '7d' | '30d') =>
  queryOptions({
    queryKey: [...keys.stats(tenantId, window), 'insights'] as const,
    queryFn: () =>
      ok(
        api.GET('/api/v1/tenants/{tenantId}/operations/insights', {
          params: { path: { tenantId }, query: { window } },
        }),
      ),
  });

export const inventoryQuery = (tenantId: string) =>
  queryOptions({
    queryKey: keys.inventory(tenantId),
    queryFn: async () =>
      (await ok(api.GET('/api/v1/tenants/{tenantId}/inventory', { params: { path: { tenantId } } }))).data,
  });

export const backupSetsQuery = (tenantId: string) =>
  queryOptions({
    queryKey: keys.backupSets(tenantId),
    queryFn: async () =>
      (await ok(api.GET('/api/v1/tenants/{tenantId}/backup-sets', { params: { path: { tenantId } } }))).data,
  });

export const backupItemsQuery = (tenantId: string, backupSetId: string) =>
  queryOptions({
    queryKey: keys.backupItems(tenantId, backupSetId),
    queryFn: async () =>
      (
        await ok(
          api.GET('/api/v1/tenants/{tenantId}/backup-sets/{backupSetId}/items', {
            params: { path: { tenantId, backupSetId } },
          }),
        )
      ).data,
  });

export const baselinesQuery = (tenantId: string) =>
  queryOptions({
    queryKey: keys.drift(tenantId),
    queryFn: async () =>
      (await ok(api.GET('/api/v1/tenants/{tenantId}/drift/baselines', { params: { path: { tenantId } } })))
        .data,
  });

export const findingsQuery = (tenantId: string, baselineId: string) =>
  queryOptions({
    queryKey: keys.findings(tenantId, baselineId),
    queryFn: () =>
      ok(
        api.GET('/api/v1/tenants/{tenantId}/drift/baselines/{baselineId}/findings', {
          params: { path: { tenantId, baselineId } },
        }),
      ),
  });

export const restoreRunsQuery = (tenantId: string) =>
  queryOptions({
    queryKey: keys.restoreRuns(tenantId),
    queryFn: () => ok(api.GET('/api/v1/tenants/{tenantId}/restore-runs', { params: { path: { tenantId } } })),
  });

export const restoreRunQuery = (tenantId: string, restoreRunId: string) =>
  queryOptions({
    queryKey: keys.restoreRun(tenantId, restoreRunId),
    queryFn: () =>
      ok(
        api.GET('/api/v1/tenants/{tenantId}/restore-runs/{restoreRunId}', {
          params: { path: { tenantId, restoreRunId } },
        }),
      ),
  });

/** The tenant's alert targets (owners only: the server refuses anyone else). */
export const alertTargetsQuery = (tenantId: string) =>
  queryOptions({
    queryKey: keys.alertTargets(tenantId),
    queryFn: async () =>
      (await ok(api.GET('/api/v1/tenants/{tenantId}/alert-targets', { params: { path: { tenantId } } })))
        .data,
  });

/** A target's latest deliveries, newest first, each with its tries. */
export const alertDeliveriesQuery = (tenantId: string, targetId: string) =>
  queryOptions({
    queryKey: keys.alertDeliveries(tenantId, targetId),
    queryFn: async () =>
      (
        await ok(
          api.GET('/api/v1/tenants/{tenantId}/alert-targets/{targetId}/deliveries', {
            params: { path: { tenantId, targetId } },
          }),
        )
      ).data,
  });
