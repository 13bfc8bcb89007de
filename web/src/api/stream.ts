import { type QueryClient, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import type { ListQuery, Run } from './client.ts';
import { keys } from './queries.ts';

type Page = { data: Run[]; nextCursor: string | null };

/** Whether a run belongs in a list with these filters (the server's own filters, re-applied). */
export function matches(run: Run, q: ListQuery): boolean {
  if (q.type && run.type !== q.type) return false;
  if (q.status && run.status !== q.status) return false;
  if (q.outcome && run.outcome !== q.outcome) return false;
  if (q.initiator && run.initiator.kind !== q.initiator) return false;
  if (q.q && !run.id.startsWith(q.q.toLowerCase())) return false;
  if (q.since && run.createdAt < q.since) return false;
  if (q.until && run.createdAt >= q.until) return false;
  return true;
}

/**
 * Applies one `run` event to every cached read of that tenant: the run's own query, and each
 * list page that shows it (updated in place, or dropped when it no longer matches the filters).
 * A new run goes on top of first pages (no cursor) whose filters it matches.
 */
export function applyRunEvent(client: QueryClient, tenantId: string, run: Run) {
  client.setQueryData(keys.run(tenantId, run.id), run);
  for (const [key, page] of client.getQueriesData<Page>({ queryKey: [...keys.runs(tenantId), 'list'] })) {
    if (!page) continue;
    const query = (key[3] ?? {}) as ListQuery;
    const at = page.data.findIndex((r) => r.id === run.id);
    let data = page.data;
    if (at >= 0) {
      data = matches(run, query)
        ? data.map((r) => (r.id === run.id ? run : r))
        : data.filter((r) => r.id !== run.id);
    } else if (
      !query.cursor &&
      matches(run, query) &&
      (data.length === 0 || run.createdAt >= data[0]!.createdAt)
    ) {
      data = [run, ...data];
    } else continue;
    client.setQueryData<Page>(key, { ...page, data });
  }
  // The domain pages read models the run writes: refresh them when it moves.
  const domain = DOMAIN_READS[run.type];
  if (domain && (run.status === 'completed' || run.type === 'restore.execute')) {
    client.invalidateQueries({ queryKey: [domain, tenantId] });
  }
  if (run.status === 'completed') client.invalidateQueries({ queryKey: ['bell', tenantId] });
}

const DOMAIN_READS: Record<string, string> = {
  'inventory.sync': 'inventory',
  'backup.create': 'backup-sets',
  'drift.generate': 'drift',
  'restore.execute': 'restore-runs',
};

/** The tenant's live feed (Server-Sent Events, with the session cookie): no polling anywhere. */
export function useRunStream(tenantId: string) {
  const client = useQueryClient();
  useEffect(() => {
    const source = new EventSource(`/api/v1/tenants/${encodeURIComponent(tenantId)}/operations/stream`);
    const onRun = (event: MessageEvent<string>) =>
      applyRunEvent(client, tenantId, JSON.parse(event.data) as Run);
    source.addEventListener('run', onRun);
    return () => {
      source.removeEventListener('run', onRun);
      source.close();
    };
  }, [client, tenantId]);
}
