import type { FastifyInstance } from 'fastify';
import type { Opsledger } from './opsledger.ts';

/**
 * A graceful stop (SIGTERM): stop taking work, let what is in flight finish within the grace
 * period, release the rest to be retried, close streams, then close the ledger.
 *
 * The listener stops accepting connections at once and answers requests on kept-alive ones with
 * 503; open streams are ended (the client reconnects elsewhere); requests in flight finish or are
 * cut when the grace period ends. The worker stops fetching jobs at once; runs still going when the
 * grace period ends are aborted and requeued, so none is left `running`.
 */
export async function shutdown(parts: {
  ledger: Opsledger;
  app?: FastifyInstance | null;
  graceMs: number;
}): Promise<void> {
  const { ledger, app, graceMs } = parts;
  const closeHttp = async () => {
    if (!app) return;
    const closing = app.close();
    const timer = setTimeout(() => app.server.closeAllConnections(), graceMs);
    try {
      await closing;
    } finally {
      clearTimeout(timer);
    }
  };
  await Promise.all([closeHttp(), ledger.worker?.stop({ graceMs })]);
  await ledger.close();
}
