import { uuidv7 } from 'uuidv7';
import type { Database } from '../db/database.ts';
import { withDbErrors } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { redact } from '../shared/redact.ts';
import { alertRepository as repo } from './repository.ts';
import type { AlertService } from './service.ts';
import { SIGNATURE_HEADER, sign } from './signature.ts';
import { checkTargetAddress } from './url-guard.ts';

/** Tries of one delivery, the first included; between them the queue waits with backoff. */
export const MAX_DELIVERY_TRIES = 5;
const REQUEST_TIMEOUT_MS = 10_000;
const EXCERPT = 500;

export type DeliverDeps = { database: Database; alerts: AlertService; logger: Logger };

/**
 * One try of one delivery: sign the stored body, POST it, log the try and its answer. 'retry'
 * tells the queue to try again later (its backoff); the last try's failure is final. A delivery
 * already delivered, or whose target was removed, is not sent again.
 */
export async function deliverOnce(
  deps: DeliverDeps,
  job: { tenantId: string; deliveryId: string },
): Promise<'delivered' | 'retry' | 'failed' | 'skipped'> {
  const { tenantId, deliveryId } = job;
  const found = await withDbErrors(() =>
    deps.database.tenantTx(tenantId, async (trx) => {
      const delivery = await repo.getDelivery(trx, tenantId, deliveryId);
      const target = delivery ? await repo.getTarget(trx, tenantId, delivery.target_id) : undefined;
      return delivery && target ? { delivery, target } : null;
    }),
  );
  if (!found) return 'skipped';
  if (found.delivery.status !== 'pending') return 'skipped';
  const { delivery, target } = found;
  const attempt = delivery.attempts + 1;
  const body = JSON.stringify(delivery.payload);
  const started = performance.now();
  let statusCode: number | null = null;
  let excerpt: string | null = null;
  let error: string | null = null;
  try {
    const { url, secret } = deps.alerts.openTarget(target);
    await checkTargetAddress(url, deps.alerts.allowPrivate);
    const res = await fetch(url, {
      method: 'POST',
      body,
      // A redirect could lead anywhere, a private address included: it is an answer, not followed.
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Opsledger-Webhooks/1',
        'opsledger-delivery': delivery.id,
        'opsledger-event': delivery.event,
        [SIGNATURE_HEADER]: sign(secret, body, Math.floor(Date.now() / 1000)),
      },
    });
    statusCode = res.status;
    excerpt = redact((await res.text().catch(() => '')).slice(0, 2000)).slice(0, EXCERPT) || null;
    if (res.status < 200 || res.status >= 300) error = `the receiver answered HTTP ${res.status}`;
  } catch (err) {
    const e = err as Error & { code?: string };
    error = redact(
      e.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS} ms` : e.message || String(err),
    ).slice(0, EXCERPT);
  }
  const ok = error === null;
  const final = ok ? 'delivered' : attempt >= MAX_DELIVERY_TRIES ? 'failed' : null;
  await withDbErrors(() =>
    deps.database.tenantTx(tenantId, (trx) =>
      repo.recordAttempt(trx, tenantId, deliveryId, {
        id: uuidv7(),
        attempt,
        statusCode,
        excerpt,
        error,
        durationMs: Math.round(performance.now() - started),
        final,
      }),
    ),
  );
  if (!ok) deps.logger.warn({ tenantId, deliveryId, attempt, statusCode }, 'webhook delivery failed');
  return final ?? 'retry';
}
