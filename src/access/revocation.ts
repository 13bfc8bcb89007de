/**
 * What just stopped being valid. Raised once, after the change has committed, by whichever service
 * made it: a token revoked, a session ended by "sign out everywhere" or a password change, a
 * member removed from a tenant. A listener (for example one that ends open streams in every
 * process) reacts; it must not throw, and the change stands whatever it does.
 */
export type CredentialsRevoked = {
  userId: string;
  /** Sessions ended (all of the user's, or all but the one that asked). */
  sessionIds: string[];
  /** API tokens revoked. */
  tokenIds: string[];
  /** Set when a membership ended: the user lost this tenant (and kept their credentials). */
  tenantId?: string;
  reason: 'token_revoked' | 'password_changed' | 'signed_out_everywhere' | 'member_removed';
};

export type CredentialsRevokedListener = (event: CredentialsRevoked) => void;

export const ignoreRevocation: CredentialsRevokedListener = () => {};

/** Calls the listener, never letting it undo or fail the change that was made. */
export function announceRevocation(listener: CredentialsRevokedListener, event: CredentialsRevoked): void {
  try {
    listener(event);
  } catch {
    // A listener is told, not asked: the revocation has committed whatever it does.
  }
}
