import { createHmac, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../shared/errors.ts';
import type { OperationCatalog } from './catalog.ts';
import { canonicalJson } from './identity.ts';
import type { Keyset, ListFilters } from './repository.ts';
import type { InitiatorKind, RunOutcome, RunStatus } from './tables.ts';
import { INITIATOR_KINDS, RUN_OUTCOMES, RUN_STATUSES } from './vocabulary.ts';

/** The list's query as it arrives (from the API's query string or a library caller). */
export type ListQuery = {
  type?: string;
  status?: string;
  outcome?: string;
  initiator?: string;
  /** Runs a person started (a user id; the API turns `me` into the caller's). */
  initiatorUserId?: string;
  /** `true`: only dry runs (inputs `dryRun: true`); `false`: none of them. */
  dryRun?: string | boolean;
  since?: string | Date;
  until?: string | Date;
  q?: string;
  limit?: number | string;
  cursor?: string;
};

export const LIST_LIMIT = { min: 1, max: 200, default: 50 };

/**
 * Opaque keyset cursors, signed so a client cannot forge a position, and bound to the tenant
 * and the filters they were issued for so they cannot be replayed elsewhere.
 */
export class CursorCodec {
  #key: Buffer;
  constructor(key: Buffer) {
    this.#key = key;
  }

  #sign(body: string): Buffer {
    return createHmac('sha256', this.#key).update(body).digest().subarray(0, 16);
  }

  encode(position: Keyset, tenantId: string, fingerprint: string): string {
    const body = Buffer.from(JSON.stringify({ c: position.createdAt, i: position.id })).toString('base64url');
    const mac = this.#sign(`${tenantId}|${fingerprint}|${body}`).toString('base64url');
    return `${body}.${mac}`;
  }

  decode(cursor: string, tenantId: string, fingerprint: string): Keyset {
    const bad = () =>
      new ValidationError('cursor is not valid for this list', [{ path: '/cursor', message: 'invalid' }]);
    if (cursor.length > 300) throw bad();
    const [body, mac, extra] = cursor.split('.');
    if (!body || !mac || extra !== undefined) throw bad();
    const expected = this.#sign(`${tenantId}|${fingerprint}|${body}`);
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw bad();
    try {
      const parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as {
        c: unknown;
        i: unknown;
      };
      if (typeof parsed.c !== 'string' || typeof parsed.i !== 'string') throw bad();
      return { createdAt: parsed.c, id: parsed.i };
    } catch {
      throw bad();
    }
  }
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ValidationError(`${name} must be one of ${allowed.join(', ')}`, [
      { path: `/${name}`, message: `must be one of ${allowed.join(', ')}` },
    ]);
  }
  return value as T;
}

function time(value: string | Date | undefined, name: string): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const d = value instanceof Date ? value : new Date(value);
  // Years outside 1970–9999 (after the offset is applied) are no run's time, and some of them
  // (year 0, year 10000) are beyond what the database or the JSON date format can hold.
  if (
    Number.isNaN(d.getTime()) ||
    (typeof value === 'string' && !/^\d{4}-\d{2}-\d{2}/.test(value)) ||
    d.getTime() < 0 ||
    d.getUTCFullYear() > 9999
  ) {
    throw new ValidationError(`${name} must be an ISO 8601 date-time`, [
      { path: `/${name}`, message: 'must be a date-time' },
    ]);
  }
  return d;
}

/** `#123` is a run number; bare `123` is a run number or the start of a run id. */
const RUN_NUMBER = /^(#)?(\d{1,10})$/;

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function parseListQuery(
  query: ListQuery,
  catalog: OperationCatalog,
  cursors: CursorCodec,
  tenantId: string,
): { filters: ListFilters; limit: number; after: Keyset | null; fingerprint: string } {
  const filters: ListFilters = {};
  if (query.type !== undefined && query.type !== '') {
    if (!catalog.has(query.type)) {
      throw new ValidationError('type is not a registered operation type', [
        { path: '/type', message: 'unknown type' },
      ]);
    }
    filters.type = query.type;
  }
  filters.status = oneOf<RunStatus>(query.status, RUN_STATUSES, 'status');
  filters.outcome = oneOf<RunOutcome>(query.outcome, RUN_OUTCOMES, 'outcome');
  filters.initiator = oneOf<InitiatorKind>(query.initiator, INITIATOR_KINDS, 'initiator');
  filters.since = time(query.since, 'since');
  filters.until = time(query.until, 'until');
  if (query.initiatorUserId !== undefined && query.initiatorUserId !== '') {
    const id = query.initiatorUserId.toLowerCase();
    if (!UUID_TEXT.test(id)) {
      throw new ValidationError('initiatorUserId must be a user id or me', [
        { path: '/initiatorUserId', message: 'must be a uuid or me' },
      ]);
    }
    filters.initiatorUserId = id;
  }
  const number = query.q?.trim().match(RUN_NUMBER);
  if (number) {
    const n = Number(number[2]);
    if (!Number.isSafeInteger(n) || n < 1 || n > 2_147_483_647) {
      throw new ValidationError('q is not a run number', [{ path: '/q', message: 'out of range' }]);
    }
    filters.number = n;
    // Bare digits may also be the start of a run id (a uuid's first characters can all be digits).
    if (!number[1]) filters.idPrefix = number[2];
  } else if (query.q !== undefined && query.q.trim() !== '') {
    const q = query.q.trim().toLowerCase();
    // A full-length q is compared as a uuid, so it must be one; a shorter one is a text prefix.
    if (!/^[0-9a-f-]{1,35}$/.test(q) && !UUID_TEXT.test(q)) {
      throw new ValidationError('q must be a run id or the start of one', [
        { path: '/q', message: 'must be hex digits and dashes' },
      ]);
    }
    filters.idPrefix = q;
  }
  if (query.dryRun !== undefined && query.dryRun !== '') {
    if (query.dryRun === true || query.dryRun === 'true') filters.dryRun = true;
    else if (query.dryRun === false || query.dryRun === 'false') filters.dryRun = false;
    else {
      throw new ValidationError('dryRun must be true or false', [
        { path: '/dryRun', message: 'must be true or false' },
      ]);
    }
  }
  let limit = LIST_LIMIT.default;
  if (query.limit !== undefined && query.limit !== '') {
    const n =
      typeof query.limit === 'number'
        ? query.limit
        : /^\d{1,4}$/.test(query.limit)
          ? Number(query.limit)
          : Number.NaN;
    if (!Number.isInteger(n) || n < LIST_LIMIT.min || n > LIST_LIMIT.max) {
      throw new ValidationError(`limit must be an integer from ${LIST_LIMIT.min} to ${LIST_LIMIT.max}`, [
        { path: '/limit', message: 'out of range' },
      ]);
    }
    limit = n;
  }
  const fingerprint = canonicalJson({
    ...filters,
    since: filters.since?.toISOString(),
    until: filters.until?.toISOString(),
  });
  const after = query.cursor ? cursors.decode(query.cursor, tenantId, fingerprint) : null;
  return { filters, limit, after, fingerprint };
}
