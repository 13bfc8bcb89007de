import { Badge, Tooltip } from '@mantine/core';
import type { LiveState } from '../api/stream.ts';

const LOOK: Record<LiveState, { label: string; color: string; help: string }> = {
  connecting: { label: 'Connecting', color: 'gray.3', help: 'Opening the live feed of runs…' },
  live: { label: 'Live', color: 'teal.9', help: 'Runs update on this page as they change.' },
  reconnecting: {
    label: 'Reconnecting',
    color: 'yellow.4',
    help: 'The live feed was interrupted; what you see may be out of date until it is back.',
  },
  offline: {
    label: 'Offline',
    color: 'red.9',
    help: 'No connection to the server: nothing on this page updates until it is back.',
  },
};

/** Whether what the page shows is kept current: live, reconnecting or offline, in words. */
export function LiveIndicator({ state }: { state: LiveState }) {
  const look = LOOK[state];
  return (
    <Tooltip label={look.help} multiline w={260} withArrow>
      <Badge
        color={look.color}
        autoContrast
        variant="filled"
        data-testid="live-state"
        data-state={state}
        role="status"
        aria-live="polite"
        tabIndex={0}
        className="live-badge"
        style={{ flexShrink: 0 }}
      >
        <span className="live-label">{look.label}</span>
      </Badge>
    </Tooltip>
  );
}
