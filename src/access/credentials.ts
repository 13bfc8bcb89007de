import { uuidv7 } from 'uuidv7';
import type { Database, Trx } from '../db/database.ts';
import { NotFoundError, UnauthorizedError, ValidationError, withDbErrors } from '../shared/errors.ts';
import { assertUuid, isUuid } from '../shared/ids.ts';
import { iso } from '../shared/time.ts';
import { type AttemptLimit, AttemptLimiter } from './attempts.ts';
import { sessionRepository as sessions, type TokenRow, tokenRepository as tokens } from './repository.ts';
import { announceRevocation, type CredentialsRevokedListener, ignoreRevocation } from './revocation.ts';
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
import type { Role, TokenScope } from './tables.ts';

export const SESSION_PREFIX = 'ols';
export const TOKEN_PREFIX = 'olt';

export const TOKEN_SCOPES: readonly TokenScope[] = ['read', 'operate'];

export type ApiToken = {
  id: string;
  name: string;
  scope: TokenScope;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string;
};

/** How long a new token lives: the installation's default, and the most a caller may ask for. */
export type TokenLifetime = { defaultDays: number; maxDays: number };

export const DEFAULT_TOKEN_LIFETIME: TokenLifetime = { defaultDays: 90, maxDays: 365 };

const DAY_MS = 86_400_000;

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
  #lifetime: TokenLifetime;
  #onRevoked: CredentialsRevokedListener;

  constructor(deps: {
    database: Database;
    csrfKey: Buffer;
    sessionTtlSeconds?: number;
    tokenLifetime?: TokenLifetime;
    onCredentialsRevoked?: CredentialsRevokedListener;
  }) {
    this.#db = deps.database;
    this.#csrfKey = deps.csrfKey;
    this.#sessionTtlMs = (deps.sessionTtlSeconds ?? 12 * 3600) * 1000;
    this.#lifetime = deps.tokenLifetime ?? DEFAULT_TOKEN_LIFETIME;
    this.#onRevoked = deps.onCredentialsRevoked ?? ignoreRevocation;
  }

  get tokenLifetime(): TokenLifetime {
    return this.#lifetime;
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

  /** A count of password attempts shared by every process of the installation. */
  attemptLimiter(limit: AttemptLimit): AttemptLimiter {
    return new AttemptLimiter(this.#db, limit);
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
    // Said only to whoever holds the secret: it is their token, and knowing why helps them.
    if (row.expired) throw new UnauthorizedError('the API token has expired; create a new one');
    this.#noteUse(cred.id, row.last_used_at);
    return {
      userId: row.user_id,
      email: row.email,
      displayName: row.display_name,
      via: 'token',
      tokenId: cred.id,
      tokenName: row.name,
      tokenScope: row.scope,
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

  /**
   * Returns the token's secret once; afterwards only its hash exists. Who may mint is the caller's
   * business (the API lets only a signed-in session that has just confirmed its password); this
   * only checks the token's own terms.
   */
  async createToken(
    userId: string,
    name: string,
    terms: { scope?: TokenScope; expiresInDays?: number } = {},
  ): Promise<{ token: ApiToken; secret: string }> {
    const clean = name.trim();
    if (clean.length < 1 || clean.length > 100)
      throw new ValidationError('a token name has 1–100 characters', [{ path: '/name', message: 'invalid' }]);
    const scope = terms.scope ?? 'operate';
    if (!TOKEN_SCOPES.includes(scope)) {
      throw new ValidationError('a token scope is read or operate', [{ path: '/scope', message: 'invalid' }]);
    }
    const days = terms.expiresInDays ?? this.#lifetime.defaultDays;
    const max = this.#lifetime.maxDays;
    if (!Number.isInteger(days) || days < 1 || days > max) {
      throw new ValidationError(`a token lives 1–${max} days on this installation`, [
        { path: '/expiresInDays', message: `between 1 and ${max}` },
      ]);
    }
    const id = uuidv7();
    const secret = newSecret();
    const row = await this.#system((trx) =>
      tokens.create(trx, {
        id,
        userId,
        name: clean,
        secretHash: sha256Hex(secret),
        scope,
        expiresAt: new Date(Date.now() + days * DAY_MS),
      }),
    );
    return { token: presentToken(row), secret: formatCredential(TOKEN_PREFIX, id, secret) };
  }

  /** One page of the user's live tokens, newest first; `cursor` is the previous page's nextCursor. */
  async listTokens(
    userId: string,
    page: { limit?: number; cursor?: string | null } = {},
  ): Promise<{ data: ApiToken[]; nextCursor: string | null }> {
    const limit = page.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
      throw new ValidationError('limit is 1–200', [{ path: '/limit', message: 'between 1 and 200' }]);
    }
    const before = page.cursor ? decodeTokenCursor(page.cursor) : null;
    const rows = await this.#system((trx) => tokens.listLive(trx, userId, { limit: limit + 1, before }));
    const data = rows.slice(0, limit).map(presentToken);
    return { data, nextCursor: rows.length > limit ? encodeTokenCursor(data.at(-1)!.id) : null };
  }

  async revokeToken(userId: string, tokenId: string): Promise<void> {
    const id = assertUuid(tokenId, 'token');
    if (!(await this.#system((trx) => tokens.revoke(trx, userId, id)))) throw new NotFoundError('not found');
    announceRevocation(this.#onRevoked, { userId, sessionIds: [], tokenIds: [id], reason: 'token_revoked' });
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

function presentToken(row: TokenRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    createdAt: iso(row.created_at)!,
    lastUsedAt: iso(row.last_used_at),
    expiresAt: iso(row.expires_at)!,
  };
}

// The cursor names the last token of a page. It is opaque to clients, and a user's own token id
// tells them nothing they cannot list; it is still checked, so a bad one is a 400, not a 500.
function encodeTokenCursor(id: string): string {
  return Buffer.from(`t1:${id}`).toString('base64url');
}

function decodeTokenCursor(cursor: string): string {
  const text = cursor.length <= 100 ? Buffer.from(cursor, 'base64url').toString() : '';
  const id = text.startsWith('t1:') ? text.slice(3) : '';
  if (!isUuid(id)) {
    throw new ValidationError('the cursor is not valid', [{ path: '/cursor', message: 'invalid' }]);
  }
  return id.toLowerCase();
}
