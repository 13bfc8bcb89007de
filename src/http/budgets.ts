import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route starts runs: it draws on the caller's start budget as well as the general one. */
    starts?: boolean;
  }
}

/**
 * Who a budget is kept for: the user behind the credential once it has been checked, else the
 * client address. Never the credential as spelled: `bearer x`, `Bearer  x` and any invalid header
 * are one caller (the address), and a user's session and tokens share the user's budget.
 */
export function budgetKey(request: FastifyRequest): string {
  return request.principal ? `user:${request.principal.userId}` : `addr:${request.ip}`;
}

/** A 429 with `Retry-After`, rendered as problem JSON by the error handler. */
export class TooManyRequests extends Error {
  statusCode = 429;
  headers: Record<string, string>;
  constructor(retryAfterSeconds: number, message = 'too many requests; retry later') {
    super(message);
    this.headers = { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) };
  }
}

type Limiter = (request: FastifyRequest) => Promise<{ isExceeded?: boolean; ttlInSeconds?: number }>;

/**
 * The budgets beside the general one that @fastify/rate-limit keeps per route: a refused request
 * (a bad credential, a tenant or action it may not reach) is charged to its caller, since the
 * general hook never runs for a request refused in onRequest; and every route that starts runs
 * draws on one start budget per caller. Create after the rate-limit plugin is registered; add
 * `checkStarts` as an onRequest hook after authentication, so the caller is known.
 */
export function createBudgets(app: FastifyInstance, options: { startsPerMinute: number }) {
  const general = app.createRateLimit() as Limiter;
  const starts = app.createRateLimit({
    max: options.startsPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => `start:${budgetKey(request)}`,
  }) as Limiter;
  return {
    /** Charges a refused request to its caller's general budget; throws 429 once it is spent. */
    async chargeRefusal(request: FastifyRequest): Promise<void> {
      const r = await general(request);
      if (r.isExceeded) throw new TooManyRequests(r.ttlInSeconds ?? 60);
    },
    async checkStarts(request: FastifyRequest): Promise<void> {
      if (!request.routeOptions.config?.starts) return;
      const r = await starts(request);
      if (r.isExceeded) throw new TooManyRequests(r.ttlInSeconds ?? 60, 'too many starts; retry later');
    },
  };
}
