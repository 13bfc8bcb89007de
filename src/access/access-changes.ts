import type { Database } from '../db/database.ts';
import type { Logger } from '../shared/logger.ts';

/** The channel on which the database says that some credential or membership ended (migrations/0014). */
export const ACCESS_CHANNEL = 'opsledger_access';

/**
 * Notices that some session, token or membership ended, in any process. A notice says nothing of
 * whose (any login may listen): a listener re-checks what it holds. One LISTEN per process, opened
 * on first use.
 */
export class AccessChanges {
  #database: Database;
  #logger: Logger;
  #listeners = new Set<() => void>();
  #listening: Promise<void> | null = null;
  #unlisten: (() => Promise<void>) | null = null;
  #closed = false;

  constructor(deps: { database: Database; logger: Logger }) {
    this.#database = deps.database;
    this.#logger = deps.logger;
  }

  /** Adds a listener; resolves once listening, so no change after it is missed. */
  async subscribe(listener: () => void): Promise<() => void> {
    if (this.#closed) throw new Error('access changes are closed');
    this.#listeners.add(listener);
    try {
      this.#listening ??= this.#database
        .listen(ACCESS_CHANNEL, () => this.#emit())
        .then((unlisten) => {
          this.#unlisten = unlisten;
        })
        .catch((err) => {
          this.#listening = null;
          throw err;
        });
      await this.#listening;
    } catch (err) {
      this.#listeners.delete(listener);
      throw err;
    }
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    await this.#listening?.catch(() => {});
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = null;
  }

  #emit(): void {
    if (this.#closed) return;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (err) {
        this.#logger.warn({ err }, 'access change listener failed');
      }
    }
  }
}
