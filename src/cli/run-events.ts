import type { RunEvent } from '../ledger/event-log.ts';
import type { ApiClient } from './api-client.ts';
import type { CommandContext } from './command.ts';
import { safeText } from './output.ts';

/**
 * A run's event log on the command line: `runs view ID --log` prints it, `runs watch` follows it
 * as it is written. Kept apart from the commands so they need only a line or two each.
 */

export const LOG_OPTIONS = { log: { type: 'boolean' } } as const;

/** One event as one line: time, attempt, level, kind, message. */
export function formatEvent(e: RunEvent): string {
  const time = e.at.slice(11, 23);
  const level = e.level === 'info' ? '     ' : e.level.toUpperCase().padEnd(5);
  return `${time} #${e.attempt} ${level} ${safeText(e.kind).padEnd(20)} ${safeText(e.message)}`;
}

/** Prints every event of the run, page by page. */
export async function printRunLog(ctx: CommandContext, client: ApiClient, base: string, runId: string) {
  let cursor: string | null = null;
  let any = false;
  do {
    const query: string = cursor ? `?limit=500&cursor=${encodeURIComponent(cursor)}` : '?limit=500';
    const page: { data: RunEvent[]; nextCursor: string | null } = await client.get(
      `${base}/${runId}/events${query}`,
    );
    if (!any && page.data.length > 0) ctx.out('events');
    for (const e of page.data) ctx.out(`  ${formatEvent(e)}`);
    any ||= page.data.length > 0;
    cursor = page.nextCursor;
  } while (cursor);
  if (!any) ctx.out('events    none yet');
}

/**
 * Follows the run's events live (the server sends those already written first), printing each
 * once and in order. Resolves when the stream is open; `completed` when the run's completion
 * event has been printed.
 */
export async function followRunEvents(
  client: ApiClient,
  base: string,
  runId: string,
  print: (line: string) => void,
  signal: AbortSignal,
): Promise<{ ended: Promise<void>; completed: Promise<void> }> {
  const seen = new Set<string>();
  let sawCompletion: () => void = () => {};
  const completed = new Promise<void>((resolve) => {
    sawCompletion = resolve;
  });
  const { ended } = await client.stream(
    `${base}/${runId}/events/stream`,
    (event, data) => {
      if (event !== 'event') return;
      const e = JSON.parse(data) as RunEvent;
      if (seen.has(e.id)) return;
      seen.add(e.id);
      print(formatEvent(e));
      if (e.kind === 'run.completed') sawCompletion();
    },
    signal,
  );
  return { ended, completed };
}
