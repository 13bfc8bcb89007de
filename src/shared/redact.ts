import { isUuid } from './ids.ts';
/**
 * Secret redaction for everything that leaves the ledger: operation-run
 * `failure_summary` entries, log lines and API responses.
 *
 * Design notes:
 * - Every rule replaces only the secret part with `[REDACTED]` and keeps the
 *   key / scheme / prefix so messages stay readable.
 * - All patterns are linear-time: no nested quantifiers, and every unbounded
 *   pattern is anchored with a look-behind so it can only start at the
 *   beginning of a run of characters (never re-scanned from every offset).
 * - `redact` runs the rule set until the text stops changing (bounded), which
 *   makes it idempotent even where one rule's output feeds another.
 */

import { isSensitiveKey, type KeyKind, keyKind } from './redact-keys.ts';

export { isSensitiveKey };

export const REDACTED = '[REDACTED]';
const MAX_PASSES = 6;

// ---------------------------------------------------------------------------
// Pattern rules
// ---------------------------------------------------------------------------

/** PEM private keys, complete or truncated (no END line: redact to the end). */
const PEM_RE =
  /(-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)(?:[\s\S]*?(-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)|[\s\S]*)/gi;

/** `scheme://user:password@host` for any scheme; also JSON-escaped `:\/\/`. */
const URL_CREDENTIALS_RE = /\b([a-z][a-z0-9+.-]{0,30}:\\?\/\\?\/)([^\s:/?#@\\]*):([^\s/?#]*)@/gi;

/** Bare `Bearer <token>`: the token must contain a digit or be at least 16 chars. */
const BEARER_RE = /\b(bearer\s+)(?=[A-Za-z._~+/-]*[0-9]|[A-Za-z0-9._~+/-]{16})[A-Za-z0-9._~+/-]{8,}=*/gi;

/** JWT / JWS (3 segments) and JWE (5 segments) compact serialisations. */
const JWT_RE =
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+){0,2}/g;

/** Provider token formats; group 1 (when present) is a non-secret prefix that is kept. */
const PROVIDER_RES: RegExp[] = [
  // AWS access key ids
  /(?<![A-Za-z0-9])(AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/gi,
  // GitHub
  /(?<![A-Za-z0-9_])(gh[pousr]_)[A-Za-z0-9]{20,}/gi,
  /(?<![A-Za-z0-9_])(github_pat_)[A-Za-z0-9_]{20,}/gi,
  // GitLab, npm
  /(?<![A-Za-z0-9_-])(glpat-)[A-Za-z0-9_-]{20,}/gi,
  /(?<![A-Za-z0-9_])(npm_)[A-Za-z0-9]{30,}/gi,
  // Slack tokens and incoming-webhook URLs
  /(?<![A-Za-z0-9-])(xox[abeoprs]-)[A-Za-z0-9-]{10,}/gi,
  /(?<![A-Za-z0-9-])(xapp-)[A-Za-z0-9-]{10,}/gi,
  /(hooks\.slack\.com\/services\/)[A-Za-z0-9/]+/gi,
  // Google API keys
  /(?<![A-Za-z0-9_-])(AIza)[A-Za-z0-9_-]{30,}/gi,
  // Stripe-style secret / restricted keys and webhook secrets
  /(?<![A-Za-z0-9_])((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]{10,}/gi,
  /(?<![A-Za-z0-9_])(whsec_)[A-Za-z0-9]{20,}/gi,
  // OpenAI-style keys
  /(?<![A-Za-z0-9_-])(sk-(?:proj-)?)[A-Za-z0-9_-]{20,}/gi,
  // Our own API tokens and session ids: `olt_` / `ols_`, the id's 32 hex digits, `_`, the secret
  /(?<![A-Za-z0-9_])(ol[st]_)[0-9a-f]{32}_[A-Za-z0-9_-]{8,}/gi,
  // The Graph simulator's client secrets: `sim~` and a base64url HMAC
  /(?<![A-Za-z0-9_~.-])(sim~)[A-Za-z0-9_-]{16,}/gi,
];

/** Words after "password is" that describe a password rather than being one. */
const NOT_A_PASSWORD =
  'incorrect|invalid|wrong|expired|required|missing|empty|blank|too|not|set|correct|weak|reset|changed|locked|null|undefined|a|an|the';

/**
 * A password stated in prose and quoted ("the passphrase is 'open sesame'"): the whole quoted
 * value, spaces and all.
 */
const PASSWORD_PROSE_QUOTED_RE =
  /(?<![A-Za-z0-9])((?:passwords?|passphrases?|passwd|pwd)(?:[ \t]+for[ \t]+\S+)?(?:[ \t]+(?:is|was|=|:)[ \t]+|[ \t]*[=:][ \t]*)["'`])(?!\[REDACTED)[^"'`\r\n]+(?=["'`])/gi;

/** A passphrase is words: stated in prose, it runs to the end of the line. */
const PASSPHRASE_PROSE_RE = new RegExp(
  `(?<![A-Za-z0-9])(passphrases?(?:[ \\t]+for[ \\t]+\\S+)?(?:[ \\t]+(?:is|was)[ \\t]+))(?!(?:${NOT_A_PASSWORD})(?![A-Za-z0-9]))(?!\\[REDACTED)[^\\s"'\`<>][^\\r\\n"'\`<>]*`,
  'gi',
);

/**
 * A password stated in prose ("the password is hunter2", "password: x"), whatever its entropy.
 * Words that describe a password rather than being one are left alone.
 */
const PASSWORD_PROSE_RE =
  /(?<![A-Za-z0-9])((?:passwords?|passphrases?|passwd|pwd)(?:[ \t]+for[ \t]+\S+)?(?:[ \t]+(?:is|was|=|:)[ \t]+|[ \t]*[=:][ \t]*)(?:\\?["'`])?)(?!(?:incorrect|invalid|wrong|expired|required|missing|empty|blank|too|not|set|correct|weak|reset|changed|locked|null|undefined|a|an|the)(?![A-Za-z0-9]))([^\s"'`<>,;)\]}]+)/gi;

/** Microsoft Entra client secrets (`xxx8Q~…`, 40 chars), which have no key in front of them. */
const ENTRA_SECRET_RE =
  /(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])/g;

/** A high-entropy value following a word like key/secret/token/signature. */
const ENTROPY_RE =
  /(?<![A-Za-z0-9])((?:keys?|secrets?|tokens?|signatures?|sig|passwords?|passphrases?|credentials?|hmac)(?![A-Za-z0-9])(?:[ \t]+(?:is|was|of|=|:)[ \t]+|[ \t]*[=:][ \t]*|[ \t]+)(?:\\?["'(<[])?)([A-Za-z0-9+/_-]{16,}={0,2})/gi;

/** `<Password>…</Password>` style elements. */
const XML_RE = /<([A-Za-z_][\w:.-]*)(\s[^<>]*)?>([^<]+)<\/\1\s*>/g;

function looksHighEntropy(candidate: string): boolean {
  const core = candidate.replace(/=+$/, '');
  if (core.length < 16 || isUuid(core)) return false;
  const hasDigit = /[0-9]/.test(core);
  const hasLower = /[a-z]/.test(core);
  const hasUpper = /[A-Z]/.test(core);
  if (/^[0-9a-f]+$/i.test(core)) return hasDigit && (hasLower || hasUpper);
  return core.length >= 20 && hasDigit && hasLower && hasUpper;
}

// ---------------------------------------------------------------------------
// key=value / key: value / "key": "value" / headers
// ---------------------------------------------------------------------------

/**
 * Finds `key<sep>` with an optional closing quote around the key and an
 * optional opening quote for the value. The value itself is scanned by hand
 * so that a non-secret key does not swallow a following secret.
 */
const KEY_VALUE_RE = /(?<![\w.-])([\w.-]+)(\\?["'])?[ \t]*([:=])[ \t]*(\\?["'])?/g;

const AUTH_SINGLE_TOKEN_SCHEMES = new Set([
  'bearer',
  'basic',
  'token',
  'sharedkey',
  'sharedkeylite',
  'sharedaccesssignature',
  'negotiate',
  'ntlm',
  'apikey',
  'api-key',
  'key',
  'dpop',
  'pop',
  'sso-key',
  'bot',
  'jwt',
  'pat',
]);

const AUTH_PARAM_SCHEMES = new Set([
  'digest',
  'aws4-hmac-sha256',
  'goog4-hmac-sha256',
  'aws',
  'oauth',
  'hawk',
  'hmac',
  'hmac-sha256',
  'signature',
  'mac',
]);

const SCHEME_AT_RE = /([A-Za-z][A-Za-z0-9-]*)([ \t]+)/y;

function isLineBreak(code: number): boolean {
  return code === 10 || code === 13;
}

function isWhitespace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || code === 0xa0 || code === 0x2028 || code === 0x2029;
}

/** Characters that end an unquoted value: whitespace & ; , " ' < > \ ) } */
function endsUnquotedValue(code: number): boolean {
  return (
    isWhitespace(code) ||
    code === 38 || // &
    code === 59 || // ;
    code === 44 || // ,
    code === 34 || // "
    code === 39 || // '
    code === 60 || // <
    code === 62 || // >
    code === 92 || // \
    code === 41 || // )
    code === 125 // }
  );
}

/** Characters that end a single-token credential after an auth scheme. */
function endsCredential(code: number): boolean {
  return isWhitespace(code) || code === 34 || code === 39 || code === 92 || code === 44 || code === 59;
}

function scanWhile(text: string, from: number, stop: (code: number) => boolean): number {
  let j = from;
  while (j < text.length && !stop(text.charCodeAt(j))) j++;
  return j;
}

function scanToLineEnd(text: string, from: number): number {
  return scanWhile(text, from, isLineBreak);
}

/** Returns the end of a quoted value's content (index of the closing quote or line end). */
function scanQuoted(text: string, from: number, quote: string): number {
  const n = text.length;
  let j = from;
  if (quote.length === 2) {
    // JSON-escaped quote inside a string: \"value\"
    const q = quote.charCodeAt(1);
    while (j < n) {
      const c = text.charCodeAt(j);
      if (isLineBreak(c)) break;
      if (c === 92 && text.charCodeAt(j + 1) === q) break;
      j++;
    }
    return j;
  }
  const q = quote.charCodeAt(0);
  while (j < n) {
    const c = text.charCodeAt(j);
    if (isLineBreak(c) || c === q) break;
    if (c === 92 && j + 1 < n && !isLineBreak(text.charCodeAt(j + 1))) {
      j += 2;
      continue;
    }
    j++;
  }
  return Math.min(j, n);
}

/** Known auth scheme at `at` followed by blanks: returns [scheme lowercased, index after blanks]. */
function schemeAt(text: string, at: number): [string, number] | null {
  SCHEME_AT_RE.lastIndex = at;
  const m = SCHEME_AT_RE.exec(text);
  if (m === null) return null;
  const scheme = m[1]!.toLowerCase();
  if (!AUTH_SINGLE_TOKEN_SCHEMES.has(scheme) && !AUTH_PARAM_SCHEMES.has(scheme)) return null;
  return [scheme, at + m[0].length];
}

/** Redacts a quoted value's content [start, end): keeps a leading auth scheme. */
function redactQuotedContent(text: string, start: number, end: number): string | null {
  if (end <= start) return null;
  const scheme = schemeAt(text, start);
  if (scheme !== null && scheme[1] < end) return `${text.slice(start, scheme[1])}${REDACTED}`;
  return REDACTED;
}

type ValueEdit = { end: number; replacement: string | null };

function redactUnquotedValue(text: string, start: number, kind: KeyKind): ValueEdit {
  const scheme = schemeAt(text, start);
  if (scheme !== null) {
    const [name, credStart] = scheme;
    const credEnd = AUTH_PARAM_SCHEMES.has(name)
      ? scanToLineEnd(text, credStart)
      : scanWhile(text, credStart, endsCredential);
    if (credEnd === credStart) return { end: start, replacement: null };
    return { end: credEnd, replacement: `${text.slice(start, credStart)}${REDACTED}` };
  }
  const end = kind === 'value' ? scanWhile(text, start, endsUnquotedValue) : scanToLineEnd(text, start);
  if (end === start) return { end: start, replacement: null };
  return { end, replacement: REDACTED };
}

function redactKeyValues(text: string): string {
  let out = '';
  let last = 0;
  KEY_VALUE_RE.lastIndex = 0;
  for (;;) {
    const m = KEY_VALUE_RE.exec(text);
    if (m === null) break;
    const kind = keyKind(m[1]!, m[3] === '=');
    if (kind === null) continue;
    const valueStart = m.index + m[0].length;
    const quote = m[4];
    let edit: ValueEdit;
    if (quote !== undefined) {
      const end = scanQuoted(text, valueStart, quote);
      edit = { end, replacement: redactQuotedContent(text, valueStart, end) };
    } else {
      edit = redactUnquotedValue(text, valueStart, kind);
    }
    if (edit.replacement === null) continue;
    out += text.slice(last, valueStart) + edit.replacement;
    last = edit.end;
    KEY_VALUE_RE.lastIndex = edit.end;
  }
  return last === 0 ? text : out + text.slice(last);
}

// ---------------------------------------------------------------------------
// redact
// ---------------------------------------------------------------------------

function keepPrefix(_match: string, prefix: unknown): string {
  return typeof prefix === 'string' ? prefix + REDACTED : REDACTED;
}

function redactOnce(input: string): string {
  let text = input.replace(
    PEM_RE,
    (_m, begin: string, end: string | undefined) => begin + REDACTED + (end ?? ''),
  );
  text = text.replace(URL_CREDENTIALS_RE, (m, scheme: string, user: string, password: string) =>
    password === '' ? m : `${scheme}${user}:${REDACTED}@`,
  );
  text = text.replace(BEARER_RE, (_m, prefix: string) => prefix + REDACTED);
  text = text.replace(JWT_RE, REDACTED);
  for (const re of PROVIDER_RES) text = text.replace(re, keepPrefix);
  text = text.replace(ENTRA_SECRET_RE, REDACTED);
  text = redactKeyValues(text);
  text = text.replace(PASSWORD_PROSE_QUOTED_RE, (_m, prefix: string) => prefix + REDACTED);
  text = text.replace(PASSPHRASE_PROSE_RE, (_m, prefix: string) => prefix + REDACTED);
  text = text.replace(PASSWORD_PROSE_RE, (m, prefix: string, value: string) =>
    value === REDACTED || value.startsWith('[REDACTED') ? m : prefix + REDACTED,
  );
  text = text.replace(ENTROPY_RE, (m, prefix: string, candidate: string) =>
    looksHighEntropy(candidate) ? prefix + REDACTED : m,
  );
  text = text.replace(XML_RE, (m, tag: string, attrs: string | undefined) => {
    const local = tag.slice(tag.lastIndexOf(':') + 1);
    return keyKind(local, false) === null ? m : `<${tag}${attrs ?? ''}>${REDACTED}</${tag}>`;
  });
  return text;
}

/**
 * Replaces secrets in free text with `[REDACTED]`, keeping the non-secret
 * key, scheme or prefix. Idempotent; linear in the input size.
 */
export function redact(text: string): string {
  let current = typeof text === 'string' ? text : String(text);
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const next = redactOnce(current);
    if (next === current) return current;
    current = next;
  }
  return current;
}

// ---------------------------------------------------------------------------
// redactDeep
// ---------------------------------------------------------------------------

const MAX_DEPTH = 10;

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function copyEntries(
  source: object,
  keys: string[],
  out: Record<string, unknown>,
  depth: number,
  ancestors: Set<object>,
): void {
  for (const key of keys) {
    if (key === 'stack') continue;
    let value: unknown;
    try {
      value = (source as Record<string, unknown>)[key];
    } catch {
      value = '[Unreadable]';
    }
    setOwn(out, redact(key), isSensitiveKey(key) ? REDACTED : walk(value, depth + 1, ancestors));
  }
}

function walk(value: unknown, depth: number, ancestors: Set<object>): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1, ancestors));
    if (value instanceof Date) return new Date(value.getTime());
    if (value instanceof URL) return redact(value.href);
    if (value instanceof RegExp) return value;
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer)
      return `[Binary ${value.byteLength} bytes]`;
    if (value instanceof Map) {
      const out = new Map<unknown, unknown>();
      for (const [k, v] of value) {
        const sensitive = typeof k === 'string' && isSensitiveKey(k);
        out.set(walk(k, depth + 1, ancestors), sensitive ? REDACTED : walk(v, depth + 1, ancestors));
      }
      return out;
    }
    if (value instanceof Set) {
      const out = new Set<unknown>();
      for (const v of value) out.add(walk(v, depth + 1, ancestors));
      return out;
    }
    if (value instanceof Error) {
      const out: Record<string, unknown> = {};
      setOwn(out, 'name', redact(value.name));
      setOwn(out, 'message', redact(value.message));
      copyEntries(value, Object.keys(value), out, depth, ancestors);
      if (value.cause !== undefined && !Object.keys(value).includes('cause')) {
        setOwn(out, 'cause', walk(value.cause, depth + 1, ancestors));
      }
      return out;
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      let json: unknown;
      try {
        json = toJSON.call(value);
      } catch {
        return '[Unserializable]';
      }
      ancestors.delete(value);
      return json === value ? '[Circular]' : walk(json, depth, ancestors);
    }
    const out: Record<string, unknown> = {};
    copyEntries(value, Object.keys(value), out, depth, ancestors);
    return out;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * Returns a copy of `value` with every string redacted and every value under a
 * secret-looking key replaced by `[REDACTED]`. Cycles become `[Circular]`;
 * objects nested 10 or more levels below the root become `[Truncated]`.
 */
export function redactDeep<T>(value: T): T {
  return walk(value, 0, new Set()) as T;
}
