import Type from 'typebox';
import { uuidv7 } from 'uuidv7';
import type { Trx } from '../../db/database.ts';
import type { OperationTypeDefinition } from '../../ledger/catalog.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { backupRepository } from '../backup/repository.ts';
import { inventoryRepository } from '../inventory/repository.ts';
import type { SuiteTypeDeps } from '../inventory/sync.ts';
import { driftLegacy, legacyWriter } from '../legacy/legacy.ts';
import { changedPaths, UUID_PATTERN } from '../policies.ts';
import type { DriftKind } from '../tables.ts';
import { describeDriftGenerate } from '../titles.ts';

export type DriftGenerateInputs = { baselineId: string };

export type DriftFinding = {
  kind: DriftKind;
  family: string;
  externalId: string;
  displayName: string;
  changedPaths: string[];
};

type Comparable = {
  family: string;
  external_id: string;
  display_name: string;
  payload: Record<string, unknown>;
  payload_hash: string;
};

/**
 * Baseline vs current, per (family, external id). An item whose payload differs only in fields
 * Graph maintains itself (version, timestamps) has not drifted.
 */
export function compareToBaseline(baseline: Comparable[], current: Comparable[]): DriftFinding[] {
  const key = (i: Comparable) => `${i.family}\u0000${i.external_id}`;
  const base = new Map(baseline.map((i) => [key(i), i]));
  const now = new Map(current.map((i) => [key(i), i]));
  const findings: DriftFinding[] = [];
  const finding = (kind: DriftKind, i: Comparable, paths: string[] = []): DriftFinding => ({
    kind,
    family: i.family,
    externalId: i.external_id,
    displayName: i.display_name,
    changedPaths: paths,
  });
  for (const [k, cur] of now) {
    const was = base.get(k);
    if (!was) findings.push(finding('added', cur));
    else if (was.payload_hash !== cur.payload_hash) {
      const paths = changedPaths(was.payload, cur.payload);
      if (paths.length > 0) findings.push(finding('modified', cur, paths));
    }
  }
  for (const [k, was] of base) if (!now.has(k)) findings.push(finding('removed', was));
  return findings.sort(
    (a, b) => a.family.localeCompare(b.family) || a.externalId.localeCompare(b.externalId),
  );
}

export class BaselineNotFoundError extends Error {
  override name = 'BaselineNotFoundError';
  code = 'baseline_not_found';
}

export const driftRepository = {
  /** Findings of one run; a retried attempt replaces what an earlier one wrote. */
  async replaceFindings(
    trx: Trx,
    tenantId: string,
    runId: string,
    baselineId: string,
    findings: DriftFinding[],
  ): Promise<void> {
    await trx
      .deleteFrom('drift_findings')
      .where('tenant_id', '=', tenantId)
      .where('operation_run_id', '=', runId)
      .execute();
    for (let i = 0; i < findings.length; i += 500) {
      await trx
        .insertInto('drift_findings')
        .values(
          findings.slice(i, i + 500).map((f) => ({
            id: uuidv7(),
            tenant_id: tenantId,
            operation_run_id: runId,
            baseline_id: baselineId,
            kind: f.kind,
            family: f.family,
            external_id: f.externalId,
            display_name: f.displayName,
            changed_paths: JSON.stringify(f.changedPaths),
          })),
        )
        .execute();
    }
  },

  async listFindings(trx: Trx, tenantId: string, runId: string): Promise<DriftFinding[]> {
    const rows = await trx
      .selectFrom('drift_findings')
      .select(['kind', 'family', 'external_id', 'display_name', 'changed_paths'])
      .where('tenant_id', '=', tenantId)
      .where('operation_run_id', '=', runId)
      .orderBy('family')
      .orderBy('external_id')
      .execute();
    return rows.map((r) => ({
      kind: r.kind,
      family: r.family,
      externalId: r.external_id,
      displayName: r.display_name,
      changedPaths: r.changed_paths,
    }));
  },
};

/**
 * Compares the tenant's current inventory (as of its last sync) with a backup set, over the
 * backup's families, and records one finding per added, removed or modified policy.
 */
export function driftGenerateType(deps: SuiteTypeDeps): OperationTypeDefinition<DriftGenerateInputs> {
  return {
    name: 'drift.generate',
    label: 'Drift generation',
    describe: describeDriftGenerate,
    inputSchema: Type.Object(
      { baselineId: Type.String({ pattern: UUID_PATTERN }) },
      { additionalProperties: false },
    ),
    identityKeys: ['baselineId'],
    countKeys: ['added', 'removed', 'modified'],
    timeoutSeconds: 600,
    maxAttempts: 2,
    retryDelaySeconds: deps.retryDelaySeconds ?? 10,
    normalize: (inputs) => ({ baselineId: inputs.baselineId.toLowerCase() }),
    // The door of every start (API, schedule, retry): an unknown baseline and another tenant's are
    // refused alike, before any run exists, as restore.execute refuses a backup. The baseline's
    // name is kept for the run's title.
    async validate(trx, { tenantId, inputs }) {
      const set = await backupRepository.getSet(trx, tenantId, inputs.baselineId);
      if (!set) throw new NotFoundError('baseline not found');
      return { baselineName: set.name };
    },
    onRunWrite: legacyWriter(driftLegacy, deps.legacyWrites),
    async handler(ctx) {
      const { tenantId } = ctx.run;
      const baselineId = ctx.inputs.baselineId;
      const findings = await deps.database.tenantTx(tenantId, async (trx) => {
        const set = await backupRepository.getSet(trx, tenantId, baselineId);
        if (!set)
          throw new BaselineNotFoundError(`baseline ${baselineId} is not a backup set of this tenant`);
        const baseline = await backupRepository.listItems(trx, tenantId, set.id);
        const current = await inventoryRepository.listCurrent(trx, tenantId, set.scope);
        const found = compareToBaseline(baseline, current);
        await driftRepository.replaceFindings(trx, tenantId, ctx.run.id, set.id, found);
        return found;
      });
      const counts = { added: 0, removed: 0, modified: 0 };
      for (const f of findings) counts[f.kind]++;
      return { counts, links: { baselineId } };
    },
  };
}
