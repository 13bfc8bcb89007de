import { Tooltip } from '@mantine/core';
import dayjs from 'dayjs';
import relativeTime from 'dayjs/plugin/relativeTime';
import utc from 'dayjs/plugin/utc';
import { useEffect, useState } from 'react';

dayjs.extend(relativeTime);
dayjs.extend(utc);

/** A shared once-a-minute tick so relative times stay true without refetching anything. */
function useMinuteTick() {
  const [, set] = useState(0);
  useEffect(() => {
    const id = setInterval(() => set((n) => n + 1), 60_000);
    return () => clearInterval(id);
  }, []);
}

export const exact = (iso: string) => dayjs(iso).format('YYYY-MM-DD HH:mm:ss');

/** Relative time ("3 minutes ago"), the exact time on hover and focus. */
export function RelativeTime({ iso }: { iso: string | null }) {
  useMinuteTick();
  if (!iso) return <span>—</span>;
  return (
    <Tooltip label={`${exact(iso)} (${dayjs(iso).utc().format('HH:mm')} UTC)`} withArrow>
      <time dateTime={iso} title={exact(iso)}>
        {dayjs(iso).fromNow()}
      </time>
    </Tooltip>
  );
}
