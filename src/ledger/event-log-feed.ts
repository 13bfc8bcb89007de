import type { Database } from '../db/database.ts';
import { isUuid } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { openSealed, readFeedKey } from './feed-seal.ts';

/** The channel new run events are announced on (migrations/0017, sealed since 0021). */
export const EVENT_CHANNEL = 'opsledger_run_events';

/**
 * Which runs have new events, from the database's notices, for the live streams of this process.
 * A notice is the run's id sealed with the database's feed key, as the change feed's notices are
 * (any login may LISTEN; an outsider sees a nonce, ciphertext and a tag). A listener reads the
 * events back itself, under its own tenant's scope, so a notice about another tenant's run reads
 * nothing; one that does not open with the key (forged, altered) is ignored.
 * One LISTEN per process, opened on first use.
 */
export class RunEventFeed {
  #database: Database;
  #logger: Logger;
  #byRun = new Map<string, Set<() => void>>();
  #listening: Promise<void> | null = null;
  #unlisten: (() => Promise<void>) | null = null;
  #closed = false;
  #key: Buffer | null = null;

  constructor(deps: { database: Database; logger: Logger }) {
    this.#database = deps.database;
    this.#logger = deps.logger;
  }

  /** Calls `onNew` whenever events of the run may have been added; resolves once listening. */
  async subscribe(runId: string, onNew: () => void): Promise<() => void> {
    if (this.#closed) throw new Error('the event feed is closed');
    const id = runId.toLowerCase();
    let set = this.#byRun.get(id);
    if (!set) {
      set = new Set();
      this.#byRun.set(id, set);
    }
    set.add(onNew);
    const remove = () => {
      const s = this.#byRun.get(id);
      s?.delete(onNew);
      if (s && s.size === 0) this.#byRun.delete(id);
    };
    try {
      await this.#listen();
    } catch (err) {
      remove();
      throw err;
    }
    return remove;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#byRun.clear();
    await this.#listening?.catch(() => {});
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = null;
  }

  /** The database's key that opens the notices, read once with the connecting (owning) role. */
  async #readKey(): Promise<void> {
    if (this.#key) return;
    this.#key = await readFeedKey(this.#database);
  }

  #listen(): Promise<void> {
    this.#listening ??= this.#readKey()
      .then(() => this.#database.listen(EVENT_CHANNEL, (payload) => this.#onNotice(payload)))
      .then((unlisten) => {
        this.#unlisten = unlisten;
      })
      .catch((err) => {
        this.#listening = null;
        throw err;
      });
    return this.#listening;
  }

  #onNotice(payload: string): void {
    if (this.#closed || !this.#key) return;
    const runId = openSealed(this.#key, payload);
    if (runId === null || !isUuid(runId)) return;
    for (const onNew of this.#byRun.get(runId.toLowerCase()) ?? []) {
      try {
        onNew();
      } catch (err) {
        this.#logger.warn({ err }, 'run event listener failed');
      }
    }
  }
}
