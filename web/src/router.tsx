import { Notifications } from '@mantine/notifications';
import type { QueryClient } from '@tanstack/react-query';
import {
  createRootRouteWithContext,
  createRoute,
  createRouter,
  notFound,
  Outlet,
  redirect,
} from '@tanstack/react-router';
import { ApiError, type RunOutcome, type RunStatus } from './api/client.ts';
import { meQuery, SIGNED_IN_KEY, tenantsQuery } from './api/queries.ts';
import { AppLayout } from './components/AppLayout.tsx';
import { AccountPage } from './pages/Account.tsx';
import { BackupsPage } from './pages/Backups.tsx';
import { DriftPage } from './pages/Drift.tsx';
import { InventoryPage } from './pages/Inventory.tsx';
import { InvitationsPage } from './pages/Invitations.tsx';
import { NotFoundPage } from './pages/NotFound.tsx';
import { OperationsPage } from './pages/Operations.tsx';
import { OverviewPage } from './pages/Overview.tsx';
import { RestorePage } from './pages/Restore.tsx';
import { RunDetailPage } from './pages/RunDetail.tsx';
import { SignInPage } from './pages/SignIn.tsx';
import { INITIATOR_KINDS, RUN_OUTCOMES, RUN_STATUSES } from './vocabulary.ts';

type Ctx = { queryClient: QueryClient };

const str = (v: unknown, max = 300) =>
  typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined;
const oneOf = <T extends string>(values: readonly T[], v: unknown): T | undefined =>
  values.includes(v as T) ? (v as T) : undefined;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The Operations list's view, all of it in the URL: a copied link reproduces it. */
export type OperationsSearch = {
  type?: string;
  status?: RunStatus;
  outcome?: RunOutcome;
  initiator?: (typeof INITIATOR_KINDS)[number];
  from?: string;
  to?: string;
  q?: string;
  cursor?: string;
  /** Cursors of the newer pages, so "newer" walks back the way "older" came. */
  back?: string[];
};

export function validateOperationsSearch(s: Record<string, unknown>): OperationsSearch {
  const day = (v: unknown) => (typeof v === 'string' && DAY.test(v) ? v : undefined);
  const back = Array.isArray(s.back)
    ? s.back.filter((c): c is string => typeof c === 'string').slice(-50)
    : [];
  return {
    type: str(s.type, 100),
    status: oneOf(RUN_STATUSES, s.status),
    outcome: oneOf(RUN_OUTCOMES, s.outcome),
    initiator: oneOf(INITIATOR_KINDS, s.initiator),
    from: day(s.from),
    to: day(s.to),
    q: str(s.q, 36),
    cursor: str(s.cursor),
    back: back.length > 0 ? back : undefined,
  };
}

// Notifications live inside the router: their "View run" links are router links.
const rootRoute = createRootRouteWithContext<Ctx>()({
  component: () => (
    <>
      <Notifications position="top-right" />
      <Outlet />
    </>
  ),
  notFoundComponent: NotFoundPage,
});

const signInRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/sign-in',
  validateSearch: (s: Record<string, unknown>): { next?: string } => ({
    next:
      typeof s.next === 'string' && s.next.startsWith('/') && !s.next.startsWith('//') ? s.next : undefined,
  }),
  component: SignInPage,
});

/** Everything behind sign-in: a 401 from GET /me sends the caller to the sign-in page. */
const authedRoute = createRoute({
  getParentRoute: () => rootRoute,
  id: 'authed',
  beforeLoad: async ({ context, location }) => {
    try {
      const me = await context.queryClient.ensureQueryData(meQuery);
      const tenants = await context.queryClient.ensureQueryData(tenantsQuery);
      return { me, tenants };
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        localStorage.removeItem(SIGNED_IN_KEY);
        throw redirect({ to: '/sign-in', search: { next: location.href } });
      }
      throw err;
    }
  },
  component: Outlet,
});

const indexRoute = createRoute({
  getParentRoute: () => authedRoute,
  path: '/',
  beforeLoad: ({ context }) => {
    const first = context.tenants[0];
    if (first) throw redirect({ to: '/t/$tenantId/operations', params: { tenantId: first.id } });
  },
  component: NotFoundPage,
});

/** One tenant of the caller's; any other id is the not-found page, exactly as an unknown one. */
const tenantRoute = createRoute({
  getParentRoute: () => authedRoute,
  path: '/t/$tenantId',
  beforeLoad: ({ context, params }) => {
    const tenant = context.tenants.find((t) => t.id === params.tenantId);
    if (!tenant) throw notFound();
    return { tenant };
  },
  component: AppLayout,
  notFoundComponent: NotFoundPage,
});

const tenantIndexRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/',
  beforeLoad: ({ params }) => {
    throw redirect({ to: '/t/$tenantId/operations', params });
  },
});

export const operationsRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/operations',
  validateSearch: validateOperationsSearch,
  component: OperationsPage,
});

export const runRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/operations/$runId',
  beforeLoad: ({ params }) => {
    if (!UUID.test(params.runId)) throw notFound();
  },
  component: RunDetailPage,
});

export const overviewRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/overview',
  validateSearch: (s: Record<string, unknown>): { window?: '24h' | '7d' | '30d' } => ({
    window: oneOf(['24h', '7d', '30d'] as const, s.window),
  }),
  component: OverviewPage,
});

export const inventoryRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/inventory',
  validateSearch: (s: Record<string, unknown>): { family?: string } => ({ family: str(s.family, 64) }),
  component: InventoryPage,
});

export const driftRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/drift',
  validateSearch: (s: Record<string, unknown>): { baseline?: string } => ({
    baseline: typeof s.baseline === 'string' && UUID.test(s.baseline) ? s.baseline : undefined,
  }),
  component: DriftPage,
});

export const backupsRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/backups',
  validateSearch: (s: Record<string, unknown>): { set?: string } => ({
    set: typeof s.set === 'string' && UUID.test(s.set) ? s.set : undefined,
  }),
  component: BackupsPage,
});

export const restoreRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/restore',
  validateSearch: (s: Record<string, unknown>): { record?: string } => ({
    record: typeof s.record === 'string' && UUID.test(s.record) ? s.record : undefined,
  }),
  component: RestorePage,
});

export const accountRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/account',
  component: AccountPage,
});

export const invitationsRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/invitations',
  component: InvitationsPage,
});

const routeTree = rootRoute.addChildren([
  signInRoute,
  authedRoute.addChildren([
    indexRoute,
    tenantRoute.addChildren([
      tenantIndexRoute,
      operationsRoute,
      runRoute,
      overviewRoute,
      inventoryRoute,
      driftRoute,
      backupsRoute,
      restoreRoute,
      accountRoute,
      invitationsRoute,
    ]),
  ]),
]);

export function createAppRouter(queryClient: QueryClient) {
  return createRouter({
    routeTree,
    context: { queryClient },
    defaultPreload: false,
    scrollRestoration: true,
    defaultNotFoundComponent: NotFoundPage,
  });
}

declare module '@tanstack/react-router' {
  interface Register {
    router: ReturnType<typeof createAppRouter>;
  }
}

export { tenantRoute };
