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

export const SESSION_PREFIX = 'ols';
export const TOKEN_PREFIX = 'olt';

export type ApiToken = { id: string; name: string; createdAt: string; lastUsedAt: string | null };

/**
 * Sessions and API tokens. Both are `<prefix>_<id>_<secret>`; only the secret's SHA-256 is stored
 * and it is compared in constant time. A token's last use is recorded at most once a minute so
 * an automation polling the API does not write on every request.
 */
export class CredentialService {
  #db: Database;
  #csrfKey: Buffer;
  #sessionTtlMs: number;

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

  async fromSession(cookie: string): Promise<Principal | null> {
    const cred = parseCredential(SESSION_PREFIX, cookie);
    if (!cred) return null;
    // One SELECT on every request: no transaction needed around it.
    const row = await this.#read(() => sessions.find(this.#db.db, cred.id));
    if (!row || !secretMatches(cred.secret, row.secret_hash)) return null;
    return {
      userId: row.user_id,
      email: row.email,
      displayName: row.display_name,
      via: 'session',
      sessionId: cred.id,
    };
  }

  async endSession(sessionId: string): Promise<void> {
    await this.#system((trx) => sessions.delete(trx, sessionId));
  }

  async fromToken(value: string): Promise<Principal | null> {
    const cred = parseCredential(TOKEN_PREFIX, value);
    if (!cred) return null;
    const row = await this.#read(() => tokens.findActive(this.#db.db, cred.id));
    if (!row || !secretMatches(cred.secret, row.secret_hash)) return null;
    if (!row.last_used_at || Date.now() - new Date(row.last_used_at).getTime() > 60_000) {
      await this.#system((trx) => tokens.touch(trx, cred.id));
    }
    return {
      userId: row.user_id,
      email: row.email,
      displayName: row.display_name,
      via: 'token',
      tokenId: cred.id,
      tokenName: row.name,
    };
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

function presentToken(row: {
  id: string;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}): ApiToken {
  return { id: row.id, name: row.name, createdAt: iso(row.created_at)!, lastUsedAt: iso(row.last_used_at) };
}
