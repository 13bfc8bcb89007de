import { uuidv7 } from 'uuidv7';
import type { Database, Trx } from '../db/database.ts';
import { NotFoundError, ValidationError, withDbErrors } from '../shared/errors.ts';
import { assertUuid } from '../shared/ids.ts';
import { iso } from '../shared/time.ts';
import { sessionRepository as sessions, tokenRepository as tokens } from './repository.ts';
import {
  csrfMatches,
  csrfTokenFor,
  formatCredential,
  newSecret,
  parseCredential,
  secretMatches,
  sha256Hex,
} from './secrets.ts';
import type { Principal } from './service.ts';
import type { Role } from './tables.ts';

export const SESSION_PREFIX = 'ols';
export const TOKEN_PREFIX = 'olt';

export type ApiToken = { id: string; name: string; createdAt: string; lastUsedAt: string | null };

/** A token's last use is written at most this often. */
const TOUCH_INTERVAL_MS = 60_000;
/** Uses are gathered this long and written in one statement, after the requests that made them. */
const TOUCH_BATCH_MS = 1000;

/**
 * Sessions and API tokens. Both are `<prefix>_<id>_<secret>`; only the secret's SHA-256 is stored
 * and it is compared in constant time. A token's last use is recorded at most once a minute, and
 * never on the request's path: the request notes the use in memory and a batch writes it a moment
 * later, so an automation polling the API neither writes nor waits on a write.
 */
export class CredentialService {
  #db: Database;
  #csrfKey: Buffer;
  #sessionTtlMs: number;
  /** Tokens whose use waits to be written. */
  #touchPending = new Set<string>();
  /** When this process last wrote (or queued) each token's use. */
  #touchedAt = new Map<string, number>();
  #touchTimer: NodeJS.Timeout | null = null;

  constructor(deps: { database: Database; csrfKey: Buffer; sessionTtlSeconds?: number }) {
    this.#db = deps.database;
    this.#csrfKey = deps.csrfKey;
    this.#sessionTtlMs = (deps.sessionTtlSeconds ?? 12 * 3600) * 1000;
  }

  get sessionTtlSeconds(): number {
    return this.#sessionTtlMs / 1000;
  }

  async createSession(userId: string): Promise<{ cookie: string; csrfToken: string; sessionId: string }> {
    const id = uuidv7();
    const secret = newSecret();
    await this.#system(async (trx) => {
      // Expired sessions of everyone go on sign-in: cheap, indexed, and needs no scheduler.
      await sessions.deleteExpired(trx);
      await sessions.create(trx, {
        id,
        userId,
        secretHash: sha256Hex(secret),
        expiresAt: new Date(Date.now() + this.#sessionTtlMs),
      });
    });
    return {
      cookie: formatCredential(SESSION_PREFIX, id, secret),
      csrfToken: this.csrfToken(id),
      sessionId: id,
    };
  }

  csrfToken(sessionId: string): string {
    return csrfTokenFor(this.#csrfKey, sessionId);
  }

  csrfValid(sessionId: string, given: string | undefined): boolean {
    return typeof given === 'string' && given.length < 200 && csrfMatches(this.#csrfKey, sessionId, given);
  }

  /**
   * The caller behind a session cookie. Given a tenant (a UUID), the same statement also reads the
   * caller's role there (`membership`), so the tenant gate needs no round trip of its own.
   */
  async fromSession(cookie: string, roleIn: string | null = null): Promise<Principal | null> {
    const cred = parseCredential(SESSION_PREFIX, cookie);
    if (!cred) return null;
    // One SELECT on every request: no transaction needed around it.
    const row = await this.#read(() => sessions.find(this.#db.db, cred.id, roleIn));
    if (!row || !secretMatches(cred.secret, row.secret_hash)) return null;
    return {
      userId: row.user_id,
      email: row.email,
      displayName: row.display_name,
      via: 'session',
      sessionId: cred.id,
      ...membership(roleIn, row.role),
    };
  }

  async endSession(sessionId: string): Promise<void> {
    await this.#system((trx) => sessions.delete(trx, sessionId));
  }

  /** The caller behind an API token; `roleIn` as for fromSession. */
  async fromToken(value: string, roleIn: string | null = null): Promise<Principal | null> {
    const cred = parseCredential(TOKEN_PREFIX, value);
    if (!cred) return null;
    const row = await this.#read(() => tokens.findActive(this.#db.db, cred.id, roleIn));
    if (!row || !secretMatches(cred.secret, row.secret_hash)) return null;
    this.#noteUse(cred.id, row.last_used_at);
    return {
      userId: row.user_id,
      email: row.email,
      displayName: row.display_name,
      via: 'token',
      tokenId: cred.id,
      tokenName: row.name,
      ...membership(roleIn, row.role),
    };
  }

  #noteUse(tokenId: string, lastUsedAt: Date | null): void {
    const now = Date.now();
    const written = Math.max(
      lastUsedAt ? new Date(lastUsedAt).getTime() : 0,
      this.#touchedAt.get(tokenId) ?? 0,
    );
    if (now - written <= TOUCH_INTERVAL_MS) return;
    this.#touchedAt.set(tokenId, now);
    this.#touchPending.add(tokenId);
    if (!this.#touchTimer) {
      this.#touchTimer = setTimeout(() => void this.flushTokenUses(), TOUCH_BATCH_MS);
      this.#touchTimer.unref();
    }
  }

  /** Writes the token uses noted so far (on a timer, and when the server closes). Never throws. */
  async flushTokenUses(): Promise<void> {
    if (this.#touchTimer) clearTimeout(this.#touchTimer);
    this.#touchTimer = null;
    const ids = [...this.#touchPending];
    this.#touchPending.clear();
    const now = Date.now();
    for (const [id, at] of this.#touchedAt) if (now - at > TOUCH_INTERVAL_MS) this.#touchedAt.delete(id);
    if (ids.length === 0) return;
    try {
      await tokens.touch(this.#db.db, ids);
    } catch {
      // Not written (the database is away or closing): the next use of these tokens tries again.
      for (const id of ids) this.#touchedAt.delete(id);
    }
  }

  /** Returns the token's secret once; afterwards only its hash exists. */
  async createToken(userId: string, name: string): Promise<{ token: ApiToken; secret: string }> {
    const clean = name.trim();
    if (clean.length < 1 || clean.length > 100)
      throw new ValidationError('a token name has 1–100 characters');
    const id = uuidv7();
    const secret = newSecret();
    const row = await this.#system((trx) =>
      tokens.create(trx, { id, userId, name: clean, secretHash: sha256Hex(secret) }),
    );
    return { token: presentToken(row), secret: formatCredential(TOKEN_PREFIX, id, secret) };
  }

  async listTokens(userId: string): Promise<ApiToken[]> {
    return (await this.#system((trx) => tokens.listActive(trx, userId))).map(presentToken);
  }

  async revokeToken(userId: string, tokenId: string): Promise<void> {
    const id = assertUuid(tokenId, 'token');
    if (!(await this.#system((trx) => tokens.revoke(trx, userId, id)))) throw new NotFoundError('not found');
  }

  #read<T>(fn: () => Promise<T>): Promise<T> {
    return withDbErrors(fn);
  }

  #system<T>(fn: (trx: Trx) => Promise<T>): Promise<T> {
    return withDbErrors(() => this.#db.systemTx(fn));
  }
}

function membership(roleIn: string | null, role: Role | null | undefined): Pick<Principal, 'membership'> {
  return roleIn === null ? {} : { membership: { tenantId: roleIn, role: role ?? null } };
}

function presentToken(row: {
  id: string;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}): ApiToken {
  return { id: row.id, name: row.name, createdAt: iso(row.created_at)!, lastUsedAt: iso(row.last_used_at) };
}
