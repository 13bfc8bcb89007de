import { ActionIcon, Indicator, Popover, Stack, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { bellQuery } from '../api/queries.ts';
import { AnchorLink } from './links.tsx';
import { OutcomeBadge } from './RunBadges.tsx';
import { RelativeTime } from './Time.tsx';

const DAY = 86_400_000;

/**
 * The caller's own runs that finished since they last opened the bell. "Last looked" is kept in
 * this browser per user and tenant; the list is refreshed by the live stream, never by polling.
 */
export function Bell({ tenantId, userId }: { tenantId: string; userId: string }) {
  const storageKey = `opsledger.bell.${userId}.${tenantId}`;
  const [seen, setSeen] = useState(
    () => localStorage.getItem(storageKey) ?? new Date(Date.now() - DAY).toISOString(),
  );
  // A week back, fixed for the life of the page: the server filters by person, status and time.
  const [since] = useState(() => new Date(Date.now() - 7 * DAY).toISOString());
  const { data = [] } = useQuery(bellQuery(tenantId, userId, since));
  const unread = data.filter((r) => (r.completedAt ?? '') > seen);
  const [opened, setOpened] = useState(false);
  const toggle = () => {
    if (opened) {
      const now = new Date().toISOString();
      localStorage.setItem(storageKey, now);
      setSeen(now);
    }
    setOpened(!opened);
  };
  return (
    <Indicator label={unread.length} size={18} disabled={unread.length === 0} color="red.9" offset={4}>
      <Popover
        opened={opened}
        onChange={setOpened}
        onClose={() => opened && toggle()}
        position="bottom-end"
        width={320}
        withArrow
      >
        <Popover.Target>
          <ActionIcon
            variant="default"
            size="lg"
            onClick={toggle}
            aria-label={`Notifications: ${unread.length} unread finished run${unread.length === 1 ? '' : 's'}`}
          >
            <svg
              width="18"
              height="18"
              viewBox="0 0 24 24"
              aria-hidden="true"
              fill="none"
              stroke="currentColor"
              strokeWidth="2"
            >
              <path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9" />
              <path d="M13.7 21a2 2 0 0 1-3.4 0" />
            </svg>
          </ActionIcon>
        </Popover.Target>
        <Popover.Dropdown>
          <Text fw={600} size="sm" mb="xs">
            Your finished runs
          </Text>
          {data.length === 0 ? (
            <Text size="sm">Nothing finished in the last 7 days.</Text>
          ) : (
            <Stack gap="xs">
              {data.map((r) => (
                <div key={r.id}>
                  <AnchorLink
                    to="/t/$tenantId/operations/$runId"
                    params={{ tenantId, runId: r.id }}
                    size="sm"
                    fw={(r.completedAt ?? '') > seen ? 700 : 400}
                    onClick={() => toggle()}
                  >
                    {r.title}
                  </AnchorLink>{' '}
                  <Text span size="xs" className="mono">
                    #{r.number}
                  </Text>{' '}
                  <OutcomeBadge outcome={r.outcome} />{' '}
                  <Text span size="xs">
                    <RelativeTime iso={r.completedAt} />
                  </Text>
                </div>
              ))}
            </Stack>
          )}
        </Popover.Dropdown>
      </Popover>
    </Indicator>
  );
}
