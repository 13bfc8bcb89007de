import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The longest files first, whatever vitest remembers: with two workers, a long file started last
 * runs alone at the end (the browser tests, skipped in the PostgreSQL pass, were remembered as
 * instant there and so started last in the embedded pass). The rest keep vitest's own order.
 */
const LONGEST_FIRST = [
  'ui-e2e',
  'package',
  'cli-runs',
  'schedules',
  'scale-pgbouncer-fleet',
  'cli-access',
  'schedules-fleet',
  'scale-read-replica',
  'shutdown-graceful',
  'ledger-redaction',
];

const rank = (spec: TestSpecification): number => {
  const name = spec.moduleId
    .split('/')
    .pop()!
    .replace(/\.test\.ts$/, '');
  const i = LONGEST_FIRST.indexOf(name);
  return i === -1 ? LONGEST_FIRST.length : i;
};

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return sorted
      .map((spec, i) => ({ spec, i }))
      .sort((a, b) => rank(a.spec) - rank(b.spec) || a.i - b.i)
      .map(({ spec }) => spec);
  }
}
