import { queryOptions } from '@tanstack/react-query';
import { ApiError, api, type ListQuery, ok, setCsrfToken } from './client.ts';

/** Every read of the UI, keyed so the live stream can update them in place. */
export const keys = {
  me: ['me'] as const,
  tenants: ['tenants'] as const,
  runs: (tenantId: string) => ['runs', tenantId] as const,
  runList: (tenantId: string, query: ListQuery) => ['runs', tenantId, 'list', query] as const,
  run: (tenantId: string, runId: string) => ['runs', tenantId, 'one', runId] as const,
};

/** Set at sign-in and cleared at sign-out, so a signed-out visit goes to sign-in without a 401. */
export const SIGNED_IN_KEY = 'opsledger.signedIn';

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
 * One run, read through the list filtered by its full id: an unknown id (or one of another
 * tenant) is then an empty page rather than a 404 the browser would report as a failed load.
 */
export const runQuery = (tenantId: string, runId: string) =>
  queryOptions({
    queryKey: keys.run(tenantId, runId),
    queryFn: async () => {
      const page = await ok(
        api.GET('/api/v1/tenants/{tenantId}/operations', {
          params: { path: { tenantId }, query: { q: runId.toLowerCase(), limit: 1 } },
        }),
      );
      return page.data.find((r) => r.id === runId.toLowerCase()) ?? null;
    },
    staleTime: Number.POSITIVE_INFINITY,
    retry: false,
  });

export const statsQuery = (tenantId: string, window: '24h' | '7d' | '30d') =>
  queryOptions({
    queryKey: ['stats', tenantId, window],
    queryFn: () =>
      ok(
        api.GET('/api/v1/tenants/{tenantId}/operations/stats', {
          params: { path: { tenantId }, query: { window } },
        }),
      ),
  });

export const inventoryQuery = (tenantId: string) =>
  queryOptions({
    queryKey: ['inventory', tenantId],
    queryFn: async () =>
      (await ok(api.GET('/api/v1/tenants/{tenantId}/inventory', { params: { path: { tenantId } } }))).data,
  });

export const backupSetsQuery = (tenantId: string) =>
  queryOptions({
    queryKey: ['backup-sets', tenantId],
    queryFn: async () =>
      (await ok(api.GET('/api/v1/tenants/{tenantId}/backup-sets', { params: { path: { tenantId } } }))).data,
  });

export const backupItemsQuery = (tenantId: string, backupSetId: string) =>
  queryOptions({
    queryKey: ['backup-sets', tenantId, backupSetId],
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
    queryKey: ['drift', tenantId],
    queryFn: async () =>
      (await ok(api.GET('/api/v1/tenants/{tenantId}/drift/baselines', { params: { path: { tenantId } } })))
        .data,
  });

export const findingsQuery = (tenantId: string, baselineId: string) =>
  queryOptions({
    queryKey: ['drift', tenantId, baselineId],
    queryFn: () =>
      ok(
        api.GET('/api/v1/tenants/{tenantId}/drift/baselines/{baselineId}/findings', {
          params: { path: { tenantId, baselineId } },
        }),
      ),
  });

export const restoreRunsQuery = (tenantId: string) =>
  queryOptions({
    queryKey: ['restore-runs', tenantId],
    queryFn: () => ok(api.GET('/api/v1/tenants/{tenantId}/restore-runs', { params: { path: { tenantId } } })),
  });

export const restoreRunQuery = (tenantId: string, restoreRunId: string) =>
  queryOptions({
    queryKey: ['restore-runs', tenantId, restoreRunId],
    queryFn: () =>
      ok(
        api.GET('/api/v1/tenants/{tenantId}/restore-runs/{restoreRunId}', {
          params: { path: { tenantId, restoreRunId } },
        }),
      ),
  });
