import type { Database, Trx } from '../db/database.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { assertUuid } from '../shared/ids.ts';
import type { RunLog } from '../shared/run-log.ts';
import { deriveKey } from '../shared/secret-key.ts';
import { GraphClient, type GraphClientOptions } from './client.ts';
import { decryptSecret, encryptSecret } from './secret-box.ts';
import { createGraphSimulator, deterministicSecret, type GraphSimulator } from './simulator.ts';

export type GraphConnectionRow = {
  tenant_id: string;
  directory_id: string;
  client_id: string;
  client_secret_encrypted: string;
  graph_url: string | null;
  created_at: Date;
  updated_at: Date;
};

export type GraphConnectionInput = {
  directoryId: string;
  clientId: string;
  clientSecret: string;
  /** Null or absent: the process's GRAPH_URL. */
  graphUrl?: string | null;
};

/** What callers may see of a connection: never the secret, not even encrypted. */
export type GraphConnectionView = {
  tenantId: string;
  directoryId: string;
  clientId: string;
  graphUrl: string | null;
  hasSecret: true;
  updatedAt: string;
};

export const connectionRepository = {
  async get(trx: Trx, tenantId: string): Promise<GraphConnectionRow | null> {
    const row = await trx
      .selectFrom('tenant_graph_connections')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return row ?? null;
  },

  async upsert(
    trx: Trx,
    tenantId: string,
    row: {
      directory_id: string;
      client_id: string;
      client_secret_encrypted: string;
      graph_url: string | null;
    },
    onlyIfAbsent = false,
  ): Promise<GraphConnectionRow | null> {
    const result = await trx
      .insertInto('tenant_graph_connections')
      .values({ tenant_id: tenantId, ...row })
      .onConflict((oc) =>
        onlyIfAbsent
          ? oc.column('tenant_id').doNothing()
          : oc.column('tenant_id').doUpdateSet({ ...row, updated_at: new Date() }),
      )
      .returningAll()
      .executeTakeFirst();
    return result ?? null;
  },
};

export type GraphConnectionsDeps = {
  database: Database;
  /** Where Graph is: a base URL, or `simulator` for the in-process simulator. */
  config: { graphUrl: string; production?: boolean; allowSimulator?: boolean };
  rootKey: Buffer;
  /** A simulator someone else runs (tests); otherwise GRAPH_URL=simulator starts one lazily. */
  simulator?: GraphSimulator;
  /** Client tuning (retries, timeouts, sleep), mostly for tests. */
  clientOptions?: Partial<GraphClientOptions>;
};

const SIMULATOR_CLIENT_ID = 'opsledger-simulator';

/**
 * Tenant Graph connections and the clients built from them. The client secret is decrypted only
 * in memory, inside the GraphClient (a private field), and is never returned.
 */
export class GraphConnections {
  #deps: GraphConnectionsDeps;
  #key: Buffer;
  #simulatorKey: Buffer;
  #ownSimulator: Promise<GraphSimulator> | null = null;

  constructor(deps: GraphConnectionsDeps) {
    this.#deps = deps;
    this.#key = deriveKey(deps.rootKey, 'graph-secrets');
    this.#simulatorKey = deriveKey(deps.rootKey, 'graph-simulator');
  }

  /** The secret the in-process simulator accepts for a directory: this installation's alone. */
  simulatorSecret(directoryId: string): string {
    return deterministicSecret(this.#simulatorKey, directoryId);
  }

  /** Encrypts a secret for storage (the demo seeds rows in its own transaction). */
  encrypt(secret: string): string {
    return encryptSecret(secret, this.#key);
  }

  async set(tenantId: string, input: GraphConnectionInput): Promise<GraphConnectionView> {
    const t = assertUuid(tenantId, 'tenant');
    const directoryId = input.directoryId?.trim();
    const clientId = input.clientId?.trim();
    if (!directoryId || !clientId || !input.clientSecret) {
      throw new ValidationError('a Graph connection needs a directory id, a client id and a client secret');
    }
    const graphUrl = input.graphUrl ? input.graphUrl.replace(/\/+$/, '') : null;
    if (graphUrl !== null && !/^https?:\/\//.test(graphUrl)) {
      throw new ValidationError('graphUrl must be an http(s) URL', [
        { path: '/graphUrl', message: 'invalid' },
      ]);
    }
    const row = await this.#deps.database.tenantTx(t, (trx) =>
      connectionRepository.upsert(trx, t, {
        directory_id: directoryId,
        client_id: clientId,
        client_secret_encrypted: this.encrypt(input.clientSecret),
        graph_url: graphUrl,
      }),
    );
    return present(row!);
  }

  async get(tenantId: string): Promise<GraphConnectionView | null> {
    const t = assertUuid(tenantId, 'tenant');
    const row = await this.#deps.database.tenantTx(t, (trx) => connectionRepository.get(trx, t));
    return row ? present(row) : null;
  }

  /** A client for the tenant's Graph; in simulator mode a tenant without a connection gets seeded data. */
  async clientFor(tenantId: string, options: ClientFor = {}): Promise<GraphClient> {
    const t = assertUuid(tenantId, 'tenant');
    const row = await this.#deps.database.tenantTx(t, (trx) => connectionRepository.get(trx, t));
    return this.clientFromRow(t, row, options);
  }

  /** Same as clientFor, from a row already read (callers inside a transaction). */
  async clientFromRow(
    tenantId: string,
    row: GraphConnectionRow | null,
    options: ClientFor = {},
  ): Promise<GraphClient> {
    if (!row) {
      if (this.#deps.config.graphUrl !== 'simulator') {
        throw new NotFoundError('this tenant has no Graph connection');
      }
      return this.#client(
        (await this.simulator()).url,
        tenantId,
        SIMULATOR_CLIENT_ID,
        this.simulatorSecret(tenantId),
        options,
      );
    }
    const baseUrl = row.graph_url ?? (await this.#configuredUrl());
    return this.#client(
      baseUrl,
      row.directory_id,
      row.client_id,
      decryptSecret(row.client_secret_encrypted, this.#key),
      options,
    );
  }

  /** The simulator in use: the injected one, or one started on first use (GRAPH_URL=simulator). */
  async simulator(): Promise<GraphSimulator> {
    if (this.#deps.simulator) return this.#deps.simulator;
    const { production, allowSimulator } = this.#deps.config;
    if (production && !allowSimulator) {
      throw new ValidationError('the Graph simulator is refused when NODE_ENV=production (ALLOW_SIMULATOR)');
    }
    if (!this.#ownSimulator) {
      const sim = createGraphSimulator({ autoRegisterKey: this.#simulatorKey });
      this.#ownSimulator = sim.start().then(() => sim);
      // A failed start is retried on the next use rather than cached forever.
      this.#ownSimulator.catch(() => {
        this.#ownSimulator = null;
      });
    }
    return this.#ownSimulator;
  }

  /** Stops the simulator this process started (not an injected one). */
  async close(): Promise<void> {
    const own = this.#ownSimulator;
    this.#ownSimulator = null;
    if (own) await (await own.catch(() => null))?.stop();
  }

  async #configuredUrl(): Promise<string> {
    const url = this.#deps.config.graphUrl;
    return url === 'simulator' ? (await this.simulator()).url : url;
  }

  #client(
    baseUrl: string,
    directoryId: string,
    clientId: string,
    clientSecret: string,
    options: ClientFor,
  ): GraphClient {
    return new GraphClient({
      ...this.#deps.clientOptions,
      baseUrl,
      directoryId,
      clientId,
      clientSecret,
      ...(options.log ? { log: options.log } : {}),
    });
  }
}

/** For whom a client works: the run's event log its waits and retries are written to. */
export type ClientFor = { log?: RunLog };

function present(row: GraphConnectionRow): GraphConnectionView {
  return {
    tenantId: row.tenant_id,
    directoryId: row.directory_id,
    clientId: row.client_id,
    graphUrl: row.graph_url,
    hasSecret: true,
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
