import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundFailures, type FailureEntry } from '../src/shared/failures.ts';
import { redact } from '../src/shared/redact.ts';
import {
  BENIGN_ANY_WORDS,
  BENIGN_LABEL_WORDS,
  BENIGN_LAST_WORDS,
  CURSOR_KEYS,
  keyKind,
  STRONG_KEY_PARTS,
  WEAK_KEY_WORDS,
} from '../src/shared/redact-keys.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { CORPUS, ORDINARY } from './helpers/secret-corpus.ts';
import { describeTarget } from './helpers/target.ts';

/**
 * The database's redactor (migration 0010, used by the trigger that redacts every failure summary
 * whoever writes it) is the TypeScript redactor in SQL: one vocabulary. These tests hold the two
 * to the same output, not merely to the same secrets removed.
 */

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
  console.log(`[redact-sql] ${describeTarget()}`);
});
afterAll(async () => {
  await t?.destroy();
});

async function sqlRedact(texts: readonly string[]): Promise<string[]> {
  const { rows } = await sql<{ r: string }>`
    select opsledger_redact(x) as r from unnest(${texts as string[]}::text[]) with ordinality u(x, n) order by n`.execute(
    t.database.db,
  );
  return rows.map((r) => r.r);
}

describe('the database redacts as the application does', () => {
  it('every message of the secret corpus: the same output, every secret gone', async () => {
    const messages = CORPUS.map(([m]) => m);
    const got = await sqlRedact(messages);
    for (const [i, [message, secrets]] of CORPUS.entries()) {
      expect({ message, sql: got[i] }).toEqual({ message, sql: redact(message) });
      for (const secret of secrets) expect(got[i]).not.toContain(secret);
      expect(got[i]).toContain('[REDACTED]');
    }
    // Redacting what is already redacted changes nothing.
    expect(await sqlRedact(got)).toEqual(got);
  });

  it('ordinary messages come out unchanged', async () => {
    expect(await sqlRedact(ORDINARY)).toEqual([...ORDINARY]);
  });

  it('the forms of issue 18: JWTs, client_secret=, password=, connection strings, olt_/ols_, sim~, passphrases', async () => {
    const forms = [
      'restore failed: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
      'token endpoint said invalid_client for client_secret=Zq8~abcDEFghi123JKLmno456',
      'login password=Hunter22 refused',
      'Server=tcp:db,1433;Database=ops;User Id=sa;Password=Pa55w0rd!;',
      'postgres://svc:S3cretPw@db.internal:5432/ops unreachable',
      'used olt_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b_Zm9vYmFyYmF6cXV4MTIz and ols_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b_c2Vzc2lvbnNlY3JldA',
      'simulator rejected sim~Q2hhbmdlTWVQbGVhc2UxMjM0NTY3ODkwYWJjZGVmZ2g',
      'my passphrase = correct horse battery staple',
    ];
    const got = await sqlRedact(forms);
    for (const [i, form] of forms.entries())
      expect({ form, sql: got[i] }).toEqual({ form, sql: redact(form) });
    for (const leaked of [
      'dozjgNryP4J3',
      'abcDEFghi123',
      'Hunter22',
      'Pa55w0rd!',
      'S3cretPw',
      'Zm9vYmFy',
      'c2Vzc2lvbnNl',
      'Q2hhbmdl',
      'horse',
    ])
      expect(got.join('\n')).not.toContain(leaked);
  });

  it('any mix of corpus pieces, ordinary text and separators: the same output', async () => {
    const piece = fc.oneof(
      fc.constantFrom(...CORPUS.map(([m]) => m)),
      fc.constantFrom(...ORDINARY),
      fc.constantFrom(' ', '\n', '; ', '&', '"', "'", ': ', '=', '\t', '  '),
      fc.string({ maxLength: 12 }),
    );
    const cases = fc.sample(
      fc.array(piece, { minLength: 1, maxLength: 4 }).map((p) => p.join('')),
      { numRuns: 60, seed: 18 },
    );
    const got = await sqlRedact(cases);
    for (const [i, c] of cases.entries()) expect({ c, sql: got[i] }).toEqual({ c, sql: redact(c) });
  });
});

describe('one key vocabulary', () => {
  it('classifies every listed word, and words built from them, as the application does', async () => {
    const words = [
      ...STRONG_KEY_PARTS,
      ...WEAK_KEY_WORDS,
      ...BENIGN_LAST_WORDS,
      ...CURSOR_KEYS,
      ...BENIGN_ANY_WORDS,
      ...BENIGN_LABEL_WORDS,
    ];
    const keys = new Set<string>(words);
    for (const w of [...STRONG_KEY_PARTS, ...WEAK_KEY_WORDS]) {
      keys.add(`client_${w}`);
      keys.add(`X-${w[0]!.toUpperCase()}${w.slice(1)}`);
      for (const b of [...BENIGN_LAST_WORDS].slice(0, 6)) keys.add(`${w}_${b}`);
      for (const b of [...BENIGN_LABEL_WORDS].slice(0, 4))
        keys.add(`${b}${w[0]!.toUpperCase()}${w.slice(1)}`);
      keys.add(`${w}Expiry`);
    }
    for (const k of [
      'AccountKey',
      'SharedAccessKey',
      'Ocp-Apim-Subscription-Key',
      'PGPASSWORD',
      'aws_secret_access_key',
      'nextPageToken',
      'Set-Cookie',
      'my_passphrase',
      'HTTPAuthorization',
    ])
      keys.add(k);
    const list = [...keys];
    const { rows } = await sql<{ k: string; a: string | null; c: string | null }>`
      select k, opsledger_redact_key_kind(k, true) as a, opsledger_redact_key_kind(k, false) as c
      from unnest(${list}::text[]) k`.execute(t.database.db);
    expect(rows).toHaveLength(list.length);
    for (const r of rows) {
      expect({ key: r.k, assignment: r.a, label: r.c }).toEqual({
        key: r.k,
        assignment: keyKind(r.k, true),
        label: keyKind(r.k, false),
      });
    }
  });
});

describe('failure summaries are bounded as the application bounds them', () => {
  it('codes, messages, lengths and the entry limit', async () => {
    const entries: unknown[] = [
      { code: 'Graph_Forbidden', message: 'Authorization: Bearer abcdef1234567890abcdef' },
      {
        code: 'bad code with spaces & secret=abcDEF1234567890XYZ',
        message: 'line one\n\n  password: hunter2  ',
      },
      { code: 'x', message: `${'long text '.repeat(480)}client_secret=abc` },
      {
        code: 'item_failed',
        message: 'one item',
        attempt: 3,
        item: '  compliance\n policy password=hunter2 ',
      },
      { code: 'odd', message: 'odd attempt and item', attempt: 1.5, item: 42 },
      { code: 'neg', message: 'negative attempt, blank item', attempt: -1, item: '   ' },
      { code: 'str', message: 'attempt as text', attempt: '2', item: { nested: true } },
      { code: 42, message: null },
      { message: 'no code' },
      'a bare string with token=f00ba4c0ffee1234',
      ...Array.from({ length: 20 }, (_, i) => ({ code: `c${i}`, message: `failure ${i}` })),
    ];
    const { rows } = await sql<{ f: FailureEntry[] }>`
      select opsledger_bound_failures(${JSON.stringify(entries)}::jsonb) as f`.execute(t.database.db);
    expect(rows[0]!.f).toEqual(boundFailures(entries as FailureEntry[]));
    const { rows: few } = await sql<{ f: FailureEntry[] }>`
      select opsledger_bound_failures(${JSON.stringify(entries.slice(0, 6))}::jsonb) as f`.execute(
      t.database.db,
    );
    expect(few[0]!.f).toEqual(boundFailures(entries.slice(0, 6) as FailureEntry[]));
  });
});
