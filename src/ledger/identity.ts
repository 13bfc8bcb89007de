import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so equal values always serialise the same way.
 * Arrays keep their order: a type whose array inputs are sets normalises them first.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined) return 'null';
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The identity of a run: at most one active run per (tenant, type, identity inputs). */
export function runIdentityHash(
  tenantId: string,
  type: string,
  identityInputs: Record<string, unknown>,
): string {
  return createHash('sha256')
    .update(canonicalJson({ tenantId: tenantId.toLowerCase(), type, inputs: identityInputs }))
    .digest('hex');
}
