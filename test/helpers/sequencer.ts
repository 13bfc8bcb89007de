import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The longest files first, whatever vitest remembers: with two workers, a long file started last
 * runs alone at the end (the browser tests, skipped in the PostgreSQL pass, were remembered as
 * instant there and so started last in the embedded pass). The browser tests start beside files
 * that mostly wait, not beside the heaviest. The rest keep vitest's own order.
 */
const LONGEST_FIRST = [
  // The browser tests beside files that mostly wait on the clock, so Chromium has a core.
  'ui-e2e',
  'schedules',
  'schedules-fleet',
  'shutdown-graceful',
  // Then the heavy ones: npm pack and install, the CLI's many processes, the fleets.
  'package',
  'cli-runs',
  'scale-pgbouncer-fleet',
  'bench-smoke',
  'cli-access',
  'scale-read-replica',
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
