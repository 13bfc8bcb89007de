import type { Initiator } from '../ledger/run.ts';
import type { OperationRunService } from '../ledger/service.ts';
import type { Logger } from '../shared/logger.ts';
import { baselineIdOf, type DemoTenant } from './demo.ts';
import type { RestoreRunService } from './restore/service.ts';

/**
 * A little live work for `serve --demo`, so whoever opens the UI in its first minute sees runs
 * queue, run and finish without reloading: a backup per tenant at once, then a scoped inventory
 * sync, a restore dry run and a drift generation spread over the first minute. Every start goes
 * through the normal, deduplicated path. Returns a function that cancels the pending timers.
 */
export function startDemoActivity(
  deps: { service: OperationRunService; restoreRuns: RestoreRunService; logger: Logger },
  tenants: readonly Pick<DemoTenant, 'id' | 'name'>[],
  spacingMs = 20_000,
): () => void {
  const initiator: Initiator = { kind: 'schedule', name: 'demo activity' };
  const timers: NodeJS.Timeout[] = [];
  const attempt = (what: string, fn: () => Promise<unknown>) =>
    fn().catch((err) => deps.logger.warn({ err, what }, 'demo activity could not start'));
  const later = (ms: number, what: string, fn: () => Promise<unknown>) =>
    timers.push(setTimeout(() => attempt(what, fn), ms).unref());

  for (const t of tenants) {
    attempt('backup', () =>
      deps.service.start({
        tenantId: t.id,
        type: 'backup.create',
        inputs: { name: 'Demo backup' },
        initiator,
      }),
    );
  }
  const [first, second, third] = tenants;
  if (first) {
    later(spacingMs / 2, 'inventory sync', () =>
      deps.service.start({
        tenantId: first.id,
        type: 'inventory.sync',
        inputs: { scope: ['deviceConfigurations', 'compliancePolicies'] },
        initiator,
      }),
    );
  }
  if (second) {
    later(spacingMs, 'restore dry run', () =>
      deps.restoreRuns.create(second.id, { backupId: baselineIdOf(second.id), dryRun: true }, initiator),
    );
  }
  if (third) {
    later(spacingMs * 2, 'drift generation', () =>
      deps.service.start({
        tenantId: third.id,
        type: 'drift.generate',
        inputs: { baselineId: baselineIdOf(third.id) },
        initiator,
      }),
    );
  }
  return () => {
    for (const t of timers) clearTimeout(t);
  };
}
