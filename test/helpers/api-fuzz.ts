import fc from 'fast-check';
import { sql } from 'kysely';
import type { Database } from '../../src/db/database.ts';

/** Strings an attacker or a broken client sends: unicode, control characters, SQL and path fragments, huge. */
export const nastyString = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string(),
    fc.string({ unit: 'grapheme', maxLength: 50 }),
    fc.string({ unit: 'binary', maxLength: 50 }),
    fc.constantFrom(
      "' OR 1=1 --",
      "'; DROP TABLE operation_runs; --",
      '../../../etc/passwd',
      '..%2f..%2fadmin',
      '%00',
      '\u0000',
      '\uFEFF',
      '\uD800',
      ['$', '{jndi:ldap://x}'].join(''),
      '<script>alert(1)</script>',
      '1e309',
      '-0',
      'NaN',
      'null',
      '[]',
      '{}',
      '00000000-0000-0000-0000-000000000000',
      '01a21ea4-5c81-73b2-8730-0c4774133a1',
      'ffffffff-ffff-ffff-ffff-ffffffffffffff',
      '2026-13-45T25:61:61Z',
      '9999999999-01-01T00:00:00Z',
      '-1',
      '0',
      '201',
      '1.5',
      ' ',
      '𝕏'.repeat(200),
    ),
    fc.string({ minLength: 300, maxLength: 5000 }),
  );

export const anyJson = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(nastyString(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
  );

/**
 * A fingerprint of every table a request could change. Token last-use times are left out: any
 * authenticated request may refresh them, rejected or not.
 */
export async function snapshot(database: Database): Promise<Record<string, unknown>> {
  const digest = (table: string, order: string, columns = '*') =>
    sql.raw(
      `(select md5(coalesce(string_agg(t::text, '|' order by ${order}), '')) from (select ${columns} from ${table}) t)`,
    );
  const { rows } = await sql<Record<string, unknown>>`
    select ${digest('operation_runs', 'id')} as runs,
           ${digest('memberships', 'tenant_id, user_id')} as memberships,
           ${digest('api_tokens', 'id', 'id, user_id, name, secret_hash, created_at, revoked_at')} as tokens,
           ${digest('sessions', 'id')} as sessions,
           ${digest('users', 'id')} as users,
           ${digest('user_passwords', 'user_id')} as passwords,
           ${digest('tenants', 'id')} as tenants,
           (select count(*)::int from pgboss.job) as jobs`.execute(database.db);
  return rows[0]!;
}

export function isProblem(res: {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}): boolean {
  if (!String(res.headers['content-type']).startsWith('application/problem+json')) return false;
  const body = JSON.parse(res.body) as Record<string, unknown>;
  return body.status === res.statusCode && typeof body.title === 'string' && typeof body.detail === 'string';
}

export const LIST_FILTERS = [
  'type',
  'status',
  'outcome',
  'initiator',
  'since',
  'until',
  'q',
  'limit',
  'cursor',
];
