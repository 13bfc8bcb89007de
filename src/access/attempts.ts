import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { withDbErrors } from '../shared/errors.ts';

export type AttemptLimit = {
  /** What is counted, part of the key: 'sign-in', 'password'. */
  scope: string;
  /** Attempts allowed in one window. */
  limit: number;
  windowSeconds: number;
};

/**
 * Password attempts per key in a fixed window, counted in the database: every process of an
 * installation shares the count. An attempt is counted before the password is checked, in one
 * statement that locks the key's row, so concurrent guesses (in one process or many) cannot all
 * slip through before the first failure is counted. Keys are stored hashed.
 */
export class AttemptLimiter {
  #db: Database;
  #limit: AttemptLimit;

  constructor(database: Database, limit: AttemptLimit) {
    this.#db = database;
    this.#limit = limit;
  }

  #key(key: string): string {
    return createHash('sha256').update(`${this.#limit.scope}\0${key}`).digest('hex');
  }

  /** Counts an attempt and says whether it may go ahead: 0, or the seconds to wait. */
  async take(key: string): Promise<number> {
    const { limit, windowSeconds } = this.#limit;
    // Past the limit the count stops at limit + 1: refused attempts are not counted further, and
    // the window ends when it was going to.
    const { rows } = await withDbErrors(() =>
      sql<{ attempts: number; wait: number }>`
        INSERT INTO auth_attempts AS a (key, attempts, window_ends_at)
        VALUES (${this.#key(key)}, 1, now() + make_interval(secs => ${windowSeconds}))
        ON CONFLICT (key) DO UPDATE SET
          attempts = CASE WHEN a.window_ends_at <= now() THEN 1
                          ELSE least(a.attempts + 1, ${limit + 1}) END,
          window_ends_at = CASE WHEN a.window_ends_at <= now() THEN excluded.window_ends_at
                                ELSE a.window_ends_at END
        RETURNING attempts,
                  ceil(extract(epoch FROM window_ends_at - now()))::int AS wait`.execute(this.#db.db),
    );
    const row = rows[0]!;
    return row.attempts > limit ? Math.max(1, Number(row.wait)) : 0;
  }

  /** The key succeeded: its count starts afresh. Expired windows of every key go too. */
  async reset(key: string): Promise<void> {
    await withDbErrors(() =>
      sql`DELETE FROM auth_attempts WHERE key = ${this.#key(key)} OR window_ends_at <= now()`.execute(
        this.#db.db,
      ),
    );
  }
}
