import type { Database } from '../db/database.ts';
import { isUuid } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';

/** The channel new run events are announced on (migrations/0017_run_events.sql). */
export const EVENT_CHANNEL = 'opsledger_run_events';

/**
 * Which runs have new events, from the database's notices, for the live streams of this process.
 * A notice names a run id and nothing else (any login may LISTEN): a listener reads the events
 * back itself, under its own tenant's scope, so a notice about another tenant's run reads nothing.
 * One LISTEN per process, opened on first use.
 */
export class RunEventFeed {
  #database: Database;
  #logger: Logger;
  #byRun = new Map<string, Set<() => void>>();
  #listening: Promise<void> | null = null;
  #unlisten: (() => Promise<void>) | null = null;
  #closed = false;

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

  #listen(): Promise<void> {
    this.#listening ??= this.#database
      .listen(EVENT_CHANNEL, (payload) => this.#onNotice(payload))
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
    if (this.#closed || !isUuid(payload)) return;
    for (const onNew of this.#byRun.get(payload.toLowerCase()) ?? []) {
      try {
        onNew();
      } catch (err) {
        this.#logger.warn({ err }, 'run event listener failed');
      }
    }
  }
}
