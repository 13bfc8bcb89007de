import { AppShell, Burger, Group, Menu, Select, Text, UnstyledButton, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { Outlet, useMatchRoute, useNavigate, useRouteContext } from '@tanstack/react-router';
import { api } from '../api/client.ts';
import { useSignedOut } from '../api/queries.ts';
import { useRunStream } from '../api/stream.ts';
import { Bell } from './Bell.tsx';
import { LiveIndicator } from './LiveIndicator.tsx';
import { NavLinkLink } from './links.tsx';
import { Shortcuts } from './Shortcuts.tsx';

const MONITORING = [
  { to: '/t/$tenantId/operations', label: 'Operations' },
  { to: '/t/$tenantId/overview', label: 'Overview' },
] as const;
const SUITE = [
  { to: '/t/$tenantId/inventory', label: 'Inventory' },
  { to: '/t/$tenantId/drift', label: 'Drift' },
  { to: '/t/$tenantId/backups', label: 'Backups' },
  { to: '/t/$tenantId/restore', label: 'Restore' },
] as const;

/** The signed-in frame: header (tenant switcher, bell, account), navigation and the page. */
export function AppLayout() {
  const { tenant, tenants, me } = useRouteContext({ from: '/authed/t/$tenantId' });
  const [opened, { toggle, close }] = useDisclosure();
  const navigate = useNavigate();
  const matchRoute = useMatchRoute();
  const live = useRunStream(tenant.id);

  const signedOut = useSignedOut();
  const signOut = async () => {
    await api.POST('/api/v1/auth/logout', {});
    await signedOut();
  };

  const link = (item: {
    to: (typeof MONITORING)[number]['to'] | (typeof SUITE)[number]['to'];
    label: string;
  }) => {
    const active = Boolean(matchRoute({ to: item.to, params: { tenantId: tenant.id }, fuzzy: true }));
    return (
      <NavLinkLink
        key={item.to}
        to={item.to}
        params={{ tenantId: tenant.id }}
        label={item.label}
        active={active}
        variant="filled"
        aria-current={active ? 'page' : undefined}
        onClick={close}
      />
    );
  };

  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }}
      padding="md"
    >
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <Shortcuts tenantId={tenant.id} />
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap" gap="xs">
          <Group gap="xs" wrap="nowrap">
            <Burger
              opened={opened}
              onClick={toggle}
              hiddenFrom="sm"
              size="sm"
              aria-label="Toggle navigation"
            />
            <Text fw={700} size="lg" visibleFrom="xs">
              Opsledger
            </Text>
          </Group>
          <Group gap="xs" wrap="nowrap">
            <LiveIndicator state={live} />
            <Select
              aria-label="Tenant"
              data={tenants.map((t) => ({ value: t.id, label: t.name }))}
              value={tenant.id}
              allowDeselect={false}
              w={{ base: 120, sm: 220 }}
              onChange={(id) => {
                if (id && id !== tenant.id)
                  navigate({ to: '/t/$tenantId/operations', params: { tenantId: id } });
              }}
            />
            <Bell tenantId={tenant.id} userId={me.user.id} />
            <Menu position="bottom-end" withinPortal>
              <Menu.Target>
                <UnstyledButton px={6} py={4} style={{ borderRadius: 4 }}>
                  <Text size="sm" fw={500} truncate maw={140} visibleFrom="sm">
                    {me.user.displayName || me.user.email}
                  </Text>
                  <Text size="sm" fw={500} hiddenFrom="sm">
                    Account
                  </Text>
                </UnstyledButton>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Label>
                  {me.user.email} · {tenant.role}
                </Menu.Label>
                <Menu.Item
                  onClick={() => navigate({ to: '/t/$tenantId/account', params: { tenantId: tenant.id } })}
                >
                  Account and tokens
                </Menu.Item>
                {tenant.role === 'owner' && (
                  <Menu.Item
                    onClick={() =>
                      navigate({ to: '/t/$tenantId/invitations', params: { tenantId: tenant.id } })
                    }
                  >
                    Invitations
                  </Menu.Item>
                )}
                {/* Every role reaches it: the page says why only owners may see and change targets. */}
                <Menu.Item
                  onClick={() => navigate({ to: '/t/$tenantId/alerts', params: { tenantId: tenant.id } })}
                >
                  Alerts
                </Menu.Item>
                <Menu.Item onClick={signOut}>Sign out</Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main">
        <Text size="xs" fw={700} c="var(--ol-muted)" tt="uppercase" px="sm" pt="xs" id="nav-monitoring">
          Monitoring
        </Text>
        <nav aria-labelledby="nav-monitoring">{MONITORING.map(link)}</nav>
        <Text size="xs" fw={700} c="var(--ol-muted)" tt="uppercase" px="sm" pt="md" id="nav-suite">
          Suite
        </Text>
        <nav aria-labelledby="nav-suite">{SUITE.map(link)}</nav>
        <VisuallyHidden>Signed in as {me.user.email}</VisuallyHidden>
      </AppShell.Navbar>
      <AppShell.Main id="main" tabIndex={-1}>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
