import type { Trx } from '../db/database.ts';
import { sessionRepository as sessions, tokenRepository as tokens } from './repository.ts';

/** The credentials one revocation ended. */
export type Revoked = { sessionIds: string[]; tokenIds: string[] };

/**
 * Ends the user's sessions (all, or all but the one named) and revokes all their API tokens, in
 * the caller's transaction. Every token was minted by a session that had just confirmed the
 * password, so ending what the password let anyone make means ending every token too.
 */
export async function endAllCredentials(
  trx: Trx,
  userId: string,
  keepSessionId: string | null,
): Promise<Revoked> {
  const sessionIds = await sessions.deleteAllOf(trx, userId, keepSessionId);
  const tokenIds = await tokens.revokeAllOf(trx, userId);
  return { sessionIds, tokenIds };
}
