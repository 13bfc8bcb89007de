import { type QueryClient, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import type { ListQuery, Run, RunDetail } from './client.ts';
import { keys } from './queries.ts';

type Page = { data: Run[]; nextCursor: string | null };

/** Whether a run belongs in a list with these filters (the server's own filters, re-applied). */
export function matches(run: Run, q: ListQuery): boolean {
  if (q.type && run.type !== q.type) return false;
  if (q.status && run.status !== q.status) return false;
  if (q.outcome && run.outcome !== q.outcome) return false;
  if (q.initiator && run.initiator.kind !== q.initiator) return false;
  if (q.initiatorUserId && q.initiatorUserId !== 'me' && run.initiator.userId !== q.initiatorUserId)
    return false;
  if (q.q) {
    const m = /^(#)?(\d+)$/.exec(q.q);
    const byNumber = m ? run.number === Number(m[2]) : false;
    const byId = !m?.[1] && run.id.startsWith(q.q.toLowerCase());
    if (!byNumber && !byId) return false;
  }
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
  // The detail read also carries the run's retries: keep them, change the rest.
  client.setQueryData<RunDetail>(keys.run(tenantId, run.id), (prev) => (prev ? { ...prev, ...run } : prev));
  // A retry names its original, whose page lists its retries.
  if (run.retryOf) client.invalidateQueries({ queryKey: keys.run(tenantId, run.retryOf) });
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
    client.invalidateQueries({ queryKey: domain(tenantId) });
  }
  if (run.status === 'completed') client.invalidateQueries({ queryKey: keys.bell(tenantId) });
  // A new run, or one that finished, changes the totals some filters count.
  if (run.status !== 'running') client.invalidateQueries({ queryKey: keys.count(tenantId) });
}

const DOMAIN_READS: Record<string, (tenantId: string) => readonly string[]> = {
  'inventory.sync': keys.inventory,
  'backup.create': keys.backupSets,
  'drift.generate': keys.drift,
  'restore.execute': keys.restoreRuns,
};

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'offline';

/**
 * Everything of a tenant the page may show, read afresh: after a `reload` event (the server
 * changed many runs in one statement) and after a reconnect (changes made while the stream was
 * down are not replayed). Only queries on screen refetch; the rest are marked stale.
 */
export function rereadTenant(client: QueryClient, tenantId: string) {
  for (const key of [keys.runs(tenantId), ...Object.values(DOMAIN_READS).map((d) => d(tenantId))])
    client.invalidateQueries({ queryKey: key });
  client.invalidateQueries({ queryKey: keys.bell(tenantId) });
  client.invalidateQueries({ queryKey: keys.count(tenantId) });
  client.invalidateQueries({ queryKey: keys.stats(tenantId) });
}

/** How long the browser may go without a byte from the stream (heartbeats included) before it reconnects. */
const SILENCE_MS = 45_000;

/**
 * The tenant's live feed (Server-Sent Events, with the session cookie), and how it is doing:
 * `live` while connected, `reconnecting` while the browser retries, `offline` when the network is
 * gone or the server refused the stream (then this hook retries with backoff). No polling.
 */
export function useRunStream(tenantId: string): LiveState {
  const client = useQueryClient();
  const [state, setState] = useState<LiveState>('connecting');
  useEffect(() => {
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let silence: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let wasDown = false;
    let stopped = false;
    const watchSilence = () => {
      clearTimeout(silence);
      silence = setTimeout(() => reconnect(), SILENCE_MS);
    };
    const onRun = (event: MessageEvent<string>) => {
      watchSilence();
      applyRunEvent(client, tenantId, JSON.parse(event.data) as Run);
    };
    let reloadTimer: ReturnType<typeof setTimeout> | undefined;
    const onReload = () => {
      watchSilence();
      // Reloads arrive in bursts (a prune sends one per batch): read once per burst.
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => rereadTenant(client, tenantId), 250);
    };
    const connect = () => {
      if (stopped) return;
      const s = new EventSource(`/api/v1/tenants/${encodeURIComponent(tenantId)}/operations/stream`);
      source = s;
      s.addEventListener('run', onRun);
      s.addEventListener('reload', onReload);
      s.addEventListener('message', watchSilence);
      s.onopen = () => {
        failures = 0;
        setState('live');
        watchSilence();
        if (wasDown) rereadTenant(client, tenantId);
        wasDown = false;
      };
      s.onerror = () => {
        wasDown = true;
        if (s.readyState === EventSource.CLOSED) {
          // The server answered with an error (a restart's 503, a 429): the browser will not retry.
          setState(navigator.onLine ? 'reconnecting' : 'offline');
          scheduleRetry();
        } else setState(navigator.onLine ? 'reconnecting' : 'offline');
      };
    };
    const close = () => {
      clearTimeout(silence);
      if (!source) return;
      source.removeEventListener('run', onRun);
      source.removeEventListener('reload', onReload);
      source.close();
      source = null;
    };
    const scheduleRetry = () => {
      close();
      clearTimeout(retry);
      failures += 1;
      retry = setTimeout(connect, Math.min(30_000, 1000 * 2 ** Math.min(failures, 5)));
      if (failures > 3) setState('offline');
    };
    const reconnect = () => {
      wasDown = true;
      setState('reconnecting');
      close();
      connect();
    };
    const onOffline = () => setState('offline');
    const onOnline = () => reconnect();
    window.addEventListener('offline', onOffline);
    window.addEventListener('online', onOnline);
    connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      clearTimeout(reloadTimer);
      window.removeEventListener('offline', onOffline);
      window.removeEventListener('online', onOnline);
      close();
    };
  }, [client, tenantId]);
  return state;
}
