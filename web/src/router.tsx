import { Notifications } from '@mantine/notifications';
import type { QueryClient } from '@tanstack/react-query';
import {
  createRootRouteWithContext,
  createRoute,
  createRouter,
  lazyRouteComponent,
  notFound,
  Outlet,
  redirect,
} from '@tanstack/react-router';
import { ApiError } from './api/client.ts';
import { meQuery, SIGNED_IN_KEY, tenantsQuery } from './api/queries.ts';
import { AppLayout } from './components/AppLayout.tsx';
import { NotFoundPage } from './pages/NotFound.tsx';
import { SignInPage } from './pages/SignIn.tsx';
import {
  str,
  UUID,
  validateOperationsSearch,
  validateOverviewSearch,
  validateRestoreSearch,
} from './search.ts';

// Pages are their own chunks, loaded when first visited, and reach their route through
// getRouteApi: no page imports this file, so the route tree and the pages form no import circle.
const page = {
  operations: lazyRouteComponent(() => import('./pages/Operations.tsx'), 'OperationsPage'),
  run: lazyRouteComponent(() => import('./pages/RunDetail.tsx'), 'RunDetailPage'),
  overview: lazyRouteComponent(() => import('./pages/Overview.tsx'), 'OverviewPage'),
  inventory: lazyRouteComponent(() => import('./pages/Inventory.tsx'), 'InventoryPage'),
  drift: lazyRouteComponent(() => import('./pages/Drift.tsx'), 'DriftPage'),
  backups: lazyRouteComponent(() => import('./pages/Backups.tsx'), 'BackupsPage'),
  restore: lazyRouteComponent(() => import('./pages/Restore.tsx'), 'RestorePage'),
  account: lazyRouteComponent(() => import('./pages/Account.tsx'), 'AccountPage'),
  invitations: lazyRouteComponent(() => import('./pages/Invitations.tsx'), 'InvitationsPage'),
  alerts: lazyRouteComponent(() => import('./pages/Alerts.tsx'), 'AlertsPage'),
};

type Ctx = { queryClient: QueryClient };

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

const operationsRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/operations',
  validateSearch: validateOperationsSearch,
  component: page.operations,
});

const runRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/operations/$runId',
  beforeLoad: ({ params }) => {
    if (!UUID.test(params.runId)) throw notFound();
  },
  component: page.run,
});

const overviewRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/overview',
  validateSearch: validateOverviewSearch,
  component: page.overview,
});

const inventoryRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/inventory',
  validateSearch: (s: Record<string, unknown>): { family?: string } => ({ family: str(s.family, 64) }),
  component: page.inventory,
});

const driftRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/drift',
  validateSearch: (s: Record<string, unknown>): { baseline?: string } => ({
    baseline: typeof s.baseline === 'string' && UUID.test(s.baseline) ? s.baseline : undefined,
  }),
  component: page.drift,
});

const backupsRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/backups',
  validateSearch: (s: Record<string, unknown>): { set?: string } => ({
    set: typeof s.set === 'string' && UUID.test(s.set) ? s.set : undefined,
  }),
  component: page.backups,
});

const restoreRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/restore',
  validateSearch: validateRestoreSearch,
  component: page.restore,
});

const accountRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/account',
  component: page.account,
});

const invitationsRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/invitations',
  component: page.invitations,
});

const alertsRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/alerts',
  component: page.alerts,
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
      alertsRoute,
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
