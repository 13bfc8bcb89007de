/** Which key, header or field names carry secrets: shared by the text rules and redactDeep. */

// ---------------------------------------------------------------------------
// Key classification (shared by the text key/value rule and redactDeep)
// ---------------------------------------------------------------------------

export type KeyKind = 'value' | 'auth' | 'line';

/** Substrings of the compacted (lowercase, separator-free) key name. */
export const STRONG_KEY_PARTS = [
  'password',
  'passwd',
  'passphrase',
  'pgpass',
  'secret',
  'apikey',
  'authorization',
  'cookie',
  'privatekey',
  'connectionstring',
  'connstring',
  'connstr',
  'accountkey',
  'accesskey',
  'sharedkey',
  'credential',
  'signingkey',
  'encryptionkey',
  'masterkey',
  'subscriptionkey',
  'sessionkey',
  'functionkey',
  'clientassertion',
  'signature',
];

/** Whole words of the key name that mark it as secret. */
export const WEAK_KEY_WORDS = new Set([
  'token',
  'tokens',
  'pwd',
  'pass',
  'sig',
  'auth',
  'jwt',
  'bearer',
  'sas',
  'otp',
]);

/** A key whose last word is one of these describes a secret, it is not one. */
export const BENIGN_LAST_WORDS = new Set([
  'type',
  'types',
  'count',
  'endpoint',
  'endpoints',
  'url',
  'urls',
  'uri',
  'length',
  'limit',
  'name',
  'names',
  'id',
  'ids',
  'kind',
  'usage',
  'format',
  'version',
  'algorithm',
  'alg',
  'scheme',
  'hint',
  'method',
  'mode',
  'policy',
  'path',
  'file',
  'location',
  'provider',
  'source',
  'status',
  'enabled',
  'present',
  'valid',
  'used',
  'ref',
]);

/** Pagination cursors named `…token` that are not credentials (Graph `$skiptoken`, `$deltatoken`, …). */
export const CURSOR_KEYS = new Set([
  'skiptoken',
  'deltatoken',
  'continuationtoken',
  'pagetoken',
  'nextpagetoken',
  'synctoken',
]);

/** Words that mark a key as metadata about a secret, whatever the separator. */
export const BENIGN_ANY_WORDS = new Set(['expires', 'expiry', 'expiration', 'lifetime', 'ttl']);

/**
 * Words that mark `Key: …` (colon, JSON, error-code style) as an error label
 * rather than a secret, e.g. `InvalidAuthenticationToken: Access token…` or
 * `Authorization_RequestDenied: …`. Not applied to `key=value` assignments.
 */
export const BENIGN_LABEL_WORDS = new Set([
  'invalid',
  'expired',
  'missing',
  'error',
  'errors',
  'failed',
  'failure',
  'bad',
  'malformed',
  'unauthorized',
  'denied',
  'not',
  'no',
  'empty',
  'required',
  'forbidden',
  'mismatch',
  'unsupported',
  'revoked',
]);

function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

function computeKeyKind(key: string, assignment: boolean): KeyKind | null {
  const words = keyWords(key);
  if (words.length === 0) return null;
  const last = words[words.length - 1]!;
  if (BENIGN_LAST_WORDS.has(last)) return null;
  if (words.some((w) => BENIGN_ANY_WORDS.has(w))) return null;
  if (!assignment && words.some((w) => BENIGN_LABEL_WORDS.has(w))) return null;
  const compact = words.join('');
  if (CURSOR_KEYS.has(compact)) return null;
  if (compact.includes('authorization')) return 'auth';
  if (compact.includes('cookie')) return 'line';
  // A passphrase is words, spaces and all: its value runs to the end of the line.
  if (compact.includes('passphrase')) return 'line';
  if (STRONG_KEY_PARTS.some((part) => compact.includes(part))) return 'value';
  if (words.some((w) => WEAK_KEY_WORDS.has(w))) return 'value';
  if (compact.endsWith('token') || compact.endsWith('pwd')) return 'value';
  return null;
}

const keyKindCache = new Map<string, KeyKind | null>();

export function keyKind(key: string, assignment: boolean): KeyKind | null {
  if (key.length > 64) return computeKeyKind(key, assignment);
  const cacheKey = (assignment ? '=' : ':') + key;
  const cached = keyKindCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const kind = computeKeyKind(key, assignment);
  if (keyKindCache.size >= 2000) keyKindCache.clear();
  keyKindCache.set(cacheKey, kind);
  return kind;
}

/** True when an object key / header name / form field names a secret. */
export function isSensitiveKey(key: string): boolean {
  return keyKind(key, false) !== null;
}
