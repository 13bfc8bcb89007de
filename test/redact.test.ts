import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boundFailures,
  FAILURE_LIMITS,
  type FailureEntry,
  failureCounts,
  toFailureEntry,
} from '../src/shared/failures.ts';
import { redact, redactDeep } from '../src/shared/redact.ts';

import { CORPUS, ORDINARY } from './helpers/secret-corpus.ts';

function jsonEscaped(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

describe('redact corpus', () => {
  it('has enough cases', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(35);
    expect(ORDINARY.length).toBeGreaterThanOrEqual(15);
  });

  it.each(CORPUS)('removes the secret from %j', (msg, secrets) => {
    const redacted = redact(msg);
    const entry = toFailureEntry(new Error(msg));
    const deep = JSON.stringify(redactDeep({ nested: { msg } }));
    expect(redacted).toContain('[REDACTED]');
    for (const secret of secrets) {
      expect(redacted).not.toContain(secret);
      expect(entry.message).not.toContain(secret);
      expect(deep).not.toContain(secret);
      expect(deep).not.toContain(jsonEscaped(secret));
    }
    expect(redact(redacted)).toBe(redacted);
  });

  it.each(ORDINARY)('leaves %j unchanged', (msg) => {
    expect(redact(msg)).toBe(msg);
    expect(toFailureEntry(new Error(msg)).message).toBe(msg);
  });

  it('keeps the non-secret key, scheme or prefix readable', () => {
    expect(redact('client_secret=abc123&x=1')).toBe('client_secret=[REDACTED]&x=1');
    expect(redact('Authorization: Bearer abc.def-123')).toBe('Authorization: Bearer [REDACTED]');
    expect(redact('call failed with Bearer abcdef123456')).toBe('call failed with Bearer [REDACTED]');
    expect(redact('postgres://user:pw@host/db')).toBe('postgres://user:[REDACTED]@host/db');
    expect(redact('"password": "x"')).toBe('"password": "[REDACTED]"');
    expect(redact('?sv=2022&se=2025-01-01T00:00:00Z&sig=abc%3D')).toBe(
      '?sv=2022&se=2025-01-01T00:00:00Z&sig=[REDACTED]',
    );
    expect(redact('AccountName=ops;AccountKey=abc==;Suffix=x')).toBe(
      'AccountName=ops;AccountKey=[REDACTED];Suffix=x',
    );
    expect(redact('PASSWORD: Hunter2')).toBe('PASSWORD: [REDACTED]');
  });
});

describe('redactDeep', () => {
  it('redacts secret-named keys whatever their value, and every string', () => {
    const input = {
      user: 'svc',
      password: 12345,
      client_secret: { nested: true },
      'X-Api-Key': 'abc',
      apiKey: null,
      clientSecret: ['a'],
      Authorization: 'Bearer abc',
      privateKey: 'k',
      connectionString: 'Server=x',
      cookie: 'a=b',
      accessToken: 't',
      note: 'see postgres://u:pw@h/db',
      list: [{ refresh_token: 'r' }, 'Bearer abcdefgh12345678'],
      tokenType: 'Bearer',
    };
    const out = redactDeep(input);
    expect(out).toEqual({
      user: 'svc',
      password: '[REDACTED]',
      client_secret: '[REDACTED]',
      'X-Api-Key': '[REDACTED]',
      apiKey: '[REDACTED]',
      clientSecret: '[REDACTED]',
      Authorization: '[REDACTED]',
      privateKey: '[REDACTED]',
      connectionString: '[REDACTED]',
      cookie: '[REDACTED]',
      accessToken: '[REDACTED]',
      note: 'see postgres://u:[REDACTED]@h/db',
      list: [{ refresh_token: '[REDACTED]' }, 'Bearer [REDACTED]'],
      tokenType: 'Bearer',
    });
    expect(input.password).toBe(12345); // the input is not mutated
  });

  it('handles cycles, depth, errors, maps and dates', () => {
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic.self = cyclic;
    expect(redactDeep(cyclic)).toEqual({ name: 'a', self: '[Circular]' });

    const shared = { v: 1 };
    expect(redactDeep({ a: shared, b: shared })).toEqual({ a: { v: 1 }, b: { v: 1 } });

    let deep: Record<string, unknown> = { leaf: 'password=x' };
    for (let i = 0; i < 15; i++) deep = { child: deep };
    const json = JSON.stringify(redactDeep(deep));
    expect(json).toContain('[Truncated]');
    expect(json).not.toContain('leaf');

    const err = Object.assign(new Error('failed with token=abc123'), { code: 'E_AUTH' });
    const e = redactDeep({ err }).err as unknown as Record<string, unknown>;
    expect(e).toMatchObject({ name: 'Error', message: 'failed with token=[REDACTED]', code: 'E_AUTH' });
    expect(e).not.toHaveProperty('stack');

    const m = redactDeep(
      new Map<string, string>([
        ['password', 'x'],
        ['note', 'Bearer abcdefgh12345678'],
      ]),
    );
    expect([...m]).toEqual([
      ['password', '[REDACTED]'],
      ['note', 'Bearer [REDACTED]'],
    ]);
    const d = new Date(0);
    expect(redactDeep({ d }).d).toEqual(d);
  });
});

describe('failure entries', () => {
  it('toFailureEntry uses a valid code, redacts, collapses and cuts after redaction', () => {
    const err = Object.assign(new Error('connect\n\n  failed   password=hunter2'), { code: 'ECONNREFUSED' });
    expect(toFailureEntry(err)).toEqual({
      code: 'econnrefused',
      message: 'connect failed password=[REDACTED]',
    });

    expect(toFailureEntry(Object.assign(new Error('x'), { code: 'has spaces!' }), 'graph_error').code).toBe(
      'graph_error',
    );
    expect(toFailureEntry(Object.assign(new Error('x'), { code: 42 })).code).toBe('error');
    expect(toFailureEntry(Object.assign(new Error('x'), { code: 'a'.repeat(65) })).code).toBe('error');
    expect(toFailureEntry('plain string', 'Restore.Failed')).toEqual({
      code: 'restore.failed',
      message: 'plain string',
    });
    expect(toFailureEntry(undefined)).toEqual({ code: 'error', message: 'Unknown error' });
    expect(toFailureEntry({ code: 'itemNotFound', message: 'gone' })).toEqual({
      code: 'itemnotfound',
      message: 'gone',
    });
    expect(toFailureEntry({ token: 'abc' }).message).toBe('{"token":"[REDACTED]"}');

    const withStack = new Error('boom');
    expect(toFailureEntry(withStack).message).toBe('boom');
    expect(toFailureEntry(withStack).message).not.toContain('at ');

    const long = `${'x'.repeat(FAILURE_LIMITS.maxMessageLength - 5)} password=${'s'.repeat(40)} tail`;
    const cut = toFailureEntry(new Error(long)).message;
    expect(cut.length).toBe(FAILURE_LIMITS.maxMessageLength + 1);
    expect(cut.endsWith('…')).toBe(true);
    expect(cut).not.toContain('sssss');
  });

  it('boundFailures sanitises and truncates', () => {
    const entries: FailureEntry[] = Array.from({ length: 30 }, (_, i) => ({
      code: i === 0 ? 'Bad Code!' : 'graph',
      message: `item ${i} failed: client_secret=abc${i}`,
    }));
    const bounded = boundFailures(entries);
    expect(bounded).toHaveLength(20);
    expect(bounded[0]).toEqual({ code: 'bad_code_', message: 'item 0 failed: client_secret=[REDACTED]' });
    expect(bounded[19]).toEqual({ code: 'truncated', message: '11 more failures not shown' });
    expect(boundFailures(bounded)).toEqual(bounded);
    expect(boundFailures(entries.slice(0, 20))).toHaveLength(20);
    expect(boundFailures(entries.slice(0, 20)).some((e) => e.code === 'truncated')).toBe(false);
  });

  it('boundFailures keeps the attempt and the (redacted, bounded) item; failureCounts groups by code', () => {
    const [entry] = boundFailures([
      { code: 'graph_forbidden', message: 'denied', attempt: 2, item: 'policy password=hunter2' },
    ]);
    expect(entry).toEqual({
      code: 'graph_forbidden',
      message: 'denied',
      attempt: 2,
      item: 'policy password=[REDACTED]',
    });
    const [odd] = boundFailures([{ code: 'x', message: 'y', attempt: -1 as number, item: 'i'.repeat(500) }]);
    expect(odd!.attempt).toBeUndefined();
    expect(odd!.item).toHaveLength(FAILURE_LIMITS.maxItemLength);
    expect(
      failureCounts([
        { code: 'graph_forbidden', message: 'a' },
        { code: 'Graph_Forbidden', message: 'b' },
        { code: 'graph_timeout', message: 'c' },
      ]),
    ).toEqual({ graph_forbidden: 2, graph_timeout: 1 });
  });
});

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

const CORPUS_SECRETS = CORPUS.flatMap(([, secrets]) => secrets);
const CORPUS_MESSAGES = CORPUS.map(([msg]) => msg);
const FRAGMENTS = [
  'password',
  'client_secret',
  'token',
  'Authorization',
  'Cookie',
  'Bearer ',
  'Basic ',
  '=',
  ':',
  ': ',
  '"',
  "'",
  '\\"',
  ' ',
  '\n',
  '&',
  ';',
  ',',
  '@',
  '://',
  'postgres',
  '[REDACTED]',
  'eyJ',
  '.',
  '-----BEGIN PRIVATE KEY-----',
  '-----END PRIVATE KEY-----',
  'key ',
  '<Password>',
  '</Password>',
  'A1b2C3d4E5f6G7h8I9j0K',
  'ghp_',
  'AKIA',
  'abc',
];

const base64url = fc
  .array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), {
    minLength: 20,
    maxLength: 60,
  })
  .map((chars) => chars.join(''));

const safeText = fc
  .array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;!?()-\'"'), {
    maxLength: 200,
  })
  .map((chars) => chars.join(''));

describe('redact properties', () => {
  it('is idempotent on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const once = redact(s);
        expect(redact(once)).toBe(once);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        const once = redact(s);
        expect(redact(once)).toBe(once);
      }),
      { numRuns: 300 },
    );
  });

  it('is idempotent on strings built from secret-ish fragments and corpus secrets', () => {
    const piece = fc.oneof(
      fc.constantFrom(...FRAGMENTS),
      fc.constantFrom(...CORPUS_SECRETS),
      fc.constantFrom(...CORPUS_MESSAGES),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 25 }), (pieces) => {
        const s = pieces.join('');
        const once = redact(s);
        expect(redact(once)).toBe(once);
      }),
      { numRuns: 1000 },
    );
  });

  it('leaves ordinary text from a safe alphabet unchanged', () => {
    fc.assert(
      fc.property(safeText, (s) => {
        expect(redact(s)).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it('never lets a generated token survive after a secret prefix', () => {
    const contexts = [
      (t: string) => `Bearer ${t}`,
      (t: string) => `password=${t}`,
      (t: string) => `client_secret=${t}`,
      (t: string) => `{"token":"${t}"}`,
    ];
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.constantFrom(...contexts),
        base64url,
        fc.string({ maxLength: 40 }),
        (prefix, context, token, suffix) => {
          const out = redact(`${prefix} ${context(token)} ${suffix}`);
          expect(out).not.toContain(token);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('boundFailures never exceeds the limits', () => {
    const entry = fc.record({ code: fc.string({ maxLength: 100 }), message: fc.string({ maxLength: 800 }) });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
        const bounded = boundFailures(entries);
        expect(bounded.length).toBeLessThanOrEqual(FAILURE_LIMITS.maxEntries);
        for (const e of bounded) {
          expect(e.message.length).toBeLessThanOrEqual(FAILURE_LIMITS.maxMessageLength + 1);
          expect(e.code.length).toBeLessThanOrEqual(FAILURE_LIMITS.maxCodeLength);
          expect(e.code).toMatch(/^[a-z0-9_.-]+$/);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('finishes on 1 MB adversarial inputs', () => {
    const MB = 1024 * 1024;
    const fill = (unit: string) => unit.repeat(Math.ceil(MB / unit.length));
    const inputs = [
      fill('a='),
      fill('eyJ'),
      fill('eyJa-'),
      fill('eyJaaaaa.'),
      fill('A1b2C3d4+/'),
      fill('password='),
      fill('Bearer '),
      fill('-----BEGIN PRIVATE KEY-----'),
      fill('a://b:'),
      fill('key '),
      fill('"a":"'),
      fill('a-'),
      fill('token:a'),
      fill('<a '),
      fill('Authorization: '),
      `key${' '.repeat(MB)}`,
      fill('abc8Q~'),
      fill('AKIA'),
      fill('\\"a\\":\\"'),
    ];
    for (const input of inputs) {
      expect(typeof redact(input)).toBe('string');
    }
  });
});
