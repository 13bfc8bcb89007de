/** What the service accepts as an email address and as a password. */

export const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

/** An email address as sign-up and invitations accept it (trimmed first). */
export function isEmail(value: string): boolean {
  const email = value.trim();
  return EMAIL.test(email) && email.length <= 320;
}

// The passwords every guesser tries first; the length and variety rules catch most of the rest.
const COMMON_PASSWORDS = new Set([
  'password1234',
  'password12345',
  'password123456',
  'passwordpassword',
  'qwertyuiopasdf',
  '123456789012',
  '1234567890123',
  'iloveyou1234',
  'administrator',
  'letmeinletmein',
  'opsledger1234',
  'changeme1234',
  'welcome12345',
]);

/** Why a password is too weak to accept, or null. */
export function passwordWeakness(password: string, email = ''): string | null {
  if (password.length < 12 || password.length > 1024) return 'a password has 12–1024 characters';
  if (password.trim().length < 12) return 'a password is not mostly spaces';
  if (new Set(password).size < 6) return 'a password has at least 6 different characters';
  const lower = password.trim().toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) return 'this password is among the most common ones';
  const local = email.trim().toLowerCase().split('@')[0] ?? '';
  if (local.length >= 4 && lower.includes(local) && lower.length < 20) {
    return 'a password does not repeat the email address';
  }
  return null;
}
