import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { iso } from '../src/shared/time.ts';

/** What a Date parsed by node-postgres from the same text would print: the reference. */
const viaDate = (text: string) => (pg.types.getTypeParser(1184, 'text')(text) as Date).toISOString();

describe('iso(): a database timestamp presented as ISO 8601 UTC', () => {
  it('writes the text of a timestamptz exactly as a Date parsed from it would, without parsing one', () => {
    const texts = [
      '2026-11-28 09:15:02+00',
      '2026-11-28 09:15:02.1+00',
      '2026-11-28 09:15:02.12+00',
      '2026-11-28 09:15:02.123+00',
      '2026-11-28 09:15:02.123456+00',
      '2026-11-28 09:15:02.999999+00',
      '1999-12-31 23:59:59.000500+00',
      // Not UTC (a server or session in another zone): parsed, so still right.
      '2026-11-28 10:15:02.5+01',
      '2026-11-28 14:45:02.123456+05:30',
      '2026-11-27 22:15:02-11',
    ];
    for (const text of texts) expect(iso(text), text).toBe(viaDate(text));
  });

  it('takes a Date, and keeps null as null', () => {
    expect(iso(new Date(Date.UTC(2026, 10, 28, 9, 15, 2, 7)))).toBe('2026-11-28T09:15:02.007Z');
    expect(iso(null)).toBeNull();
  });
});
