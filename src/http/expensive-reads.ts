import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TooManyRequests } from './budgets.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Whether this request is an expensive read (stats, prefix search, a deep page). */
    expensive?: (request: FastifyRequest) => boolean;
  }
}

/**
 * Expensive reads in flight per tenant, in this process. A rate budget per caller does not bound
 * what a burst of costly reads does to the database meanwhile: 24 parallel 30-day statistics of a
 * large tenant slowed every other tenant's list. Beyond the limit such a read gets 429 at once
 * (no queue to pile up in); cheap reads (a first page, one run) never wait for it.
 */
export class TenantConcurrency {
  #limit: number;
  #inFlight = new Map<string, number>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  inFlight(tenantId: string): number {
    return this.#inFlight.get(tenantId) ?? 0;
  }

  /** A place for one read, or null at the limit; the function returned gives it back (once). */
  tryEnter(tenantId: string): (() => void) | null {
    const n = this.inFlight(tenantId);
    if (n >= this.#limit) return null;
    this.#inFlight.set(tenantId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.inFlight(tenantId) - 1;
      if (left <= 0) this.#inFlight.delete(tenantId);
      else this.#inFlight.set(tenantId, left);
    };
  }
}

const RELEASE = Symbol('expensiveRelease');
type Held = FastifyRequest & { [RELEASE]?: () => void };

/**
 * Routes whose config marks a request expensive take a place of its tenant once the request is
 * authorised and valid, and give it back when the answer is sent (or, failing that, when the
 * response ends): a client that disconnects does not free the place while its query still runs.
 */
export function installExpensiveReads(app: FastifyInstance, options: { perTenant: number }) {
  const gate = new TenantConcurrency(options.perTenant);
  app.addHook('preHandler', async (request) => {
    const expensive = request.routeOptions.config?.expensive;
    if (!expensive?.(request)) return;
    const tenantId = ((request.params as { tenantId?: string }).tenantId ?? '').toLowerCase();
    const release = gate.tryEnter(tenantId);
    if (!release)
      throw new TooManyRequests(1, 'too many expensive reads of this tenant at once; retry shortly');
    (request as Held)[RELEASE] = release;
  });
  const release = async (request: FastifyRequest) => {
    (request as Held)[RELEASE]?.();
  };
  app.addHook('onSend', release);
  app.addHook('onResponse', release);
  return gate;
}
