import { createHash } from 'node:crypto';
import Type from 'typebox';
import type { GraphClient } from '../graph/client.ts';
import { POLICY_FAMILY_NAMES, type PolicyFamily, policyFamilyPath } from '../graph/families.ts';
import { canonicalJson } from '../ledger/identity.ts';

/** Input schema of a set of policy families; the default is every family the suite knows. */
export const scopeSchema = () =>
  Type.Array(Type.Union(POLICY_FAMILY_NAMES.map((f) => Type.Literal(f))), {
    minItems: 1,
    maxItems: 16,
    default: [...POLICY_FAMILY_NAMES],
  });

/** A scope is a set: sorted and unique, so the same families always give the same run identity. */
export function normalizeScope(scope: readonly string[] | undefined): PolicyFamily[] {
  const given = scope && scope.length > 0 ? scope : POLICY_FAMILY_NAMES;
  return [...new Set(given)].sort() as PolicyFamily[];
}

export type FetchedPolicy = {
  externalId: string;
  displayName: string;
  odataType: string | null;
  payload: Record<string, unknown>;
  hash: string;
};

export function payloadHash(payload: unknown): string {
  return createHash('sha256').update(canonicalJson(payload)).digest('hex');
}

/** Reads one family through Graph. Items without an id cannot be tracked and are counted apart. */
export async function fetchFamily(
  client: GraphClient,
  family: PolicyFamily,
  signal?: AbortSignal,
): Promise<{ items: FetchedPolicy[]; invalid: number }> {
  const raw = await client.listAll<Record<string, unknown>>(policyFamilyPath(family), { signal });
  const items: FetchedPolicy[] = [];
  const seen = new Set<string>();
  let invalid = 0;
  for (const p of raw) {
    const id = p?.id;
    if (typeof id !== 'string' || id === '' || id.length > 200 || seen.has(id)) {
      invalid++;
      continue;
    }
    seen.add(id);
    items.push({
      externalId: id,
      displayName: typeof p.displayName === 'string' ? p.displayName.slice(0, 500) : '',
      odataType: typeof p['@odata.type'] === 'string' ? (p['@odata.type'] as string) : null,
      payload: p,
      hash: payloadHash(p),
    });
  }
  return { items, invalid };
}

/**
 * Fields Graph maintains itself. They change on every write, so they are neither configuration
 * drift nor something a restore may send back.
 */
const SERVER_FIELDS = new Set([
  'id',
  'createdDateTime',
  'lastModifiedDateTime',
  'version',
  '@odata.context',
  '@odata.etag',
]);

/** The configuration part of a policy: what drift compares and what a restore writes. */
export function configurationOf(payload: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(payload).filter(([k]) => !SERVER_FIELDS.has(k)));
}

/** Dotted paths of every setting that differs; arrays compare whole (their order is meaningful). */
export function changedPaths(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    const bothObjects =
      a !== null &&
      b !== null &&
      typeof a === 'object' &&
      typeof b === 'object' &&
      !Array.isArray(a) &&
      !Array.isArray(b);
    if (bothObjects) {
      const ao = a as Record<string, unknown>;
      const bo = b as Record<string, unknown>;
      for (const key of [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort()) {
        walk(ao[key], bo[key], path ? `${path}.${key}` : key);
      }
      return;
    }
    if (canonicalJson(a) !== canonicalJson(b)) out.push(path);
  };
  walk(configurationOf(before), configurationOf(after), '');
  return out;
}

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
