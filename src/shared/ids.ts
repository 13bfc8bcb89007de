import { NotFoundError } from './errors.ts';

/** The textual form of a UUID, any version; ids in URLs and on the command line are checked with it. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

/**
 * A malformed id cannot name anything: answer as for an unknown one (NotFound), never a 500 from a
 * failed cast, and never a different answer that would tell ids apart.
 */
export function assertUuid(value: string, what = 'run'): string {
  if (!UUID_PATTERN.test(value)) throw new NotFoundError(`${what} not found`);
  return value.toLowerCase();
}
