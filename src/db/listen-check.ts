import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Database } from './database.ts';

/**
 * Whether this process hears its own NOTIFY: a LISTEN on the connection the change feed uses, a
 * NOTIFY through the pool, repeated until one arrives or `timeoutMs` passes. Behind a
 * transaction-mode pooler the LISTEN is left on whichever server connection ran it and the notice
 * goes to whoever holds that connection next, so nothing arrives: the live stream would be silent.
 */
export async function listenDelivers(database: Database, timeoutMs: number): Promise<boolean> {
  const channel = `opsledger_probe_${randomBytes(12).toString('hex')}`;
  let heard: () => void = () => {};
  let received = false;
  const arrived = new Promise<void>((resolve) => {
    heard = resolve;
  });
  const unlisten = await database.listen(channel, () => {
    received = true;
    heard();
  });
  try {
    const deadline = Date.now() + timeoutMs;
    while (!received && Date.now() < deadline) {
      await sql`select pg_notify(${channel}, 'probe')`.execute(database.db);
      await Promise.race([arrived, delay(250, undefined, { ref: false })]);
    }
    return received;
  } finally {
    await unlisten().catch(() => {});
  }
}
