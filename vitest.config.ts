import { defineConfig } from 'vitest/config';
import LongestFirstSequencer from './test/helpers/sequencer.ts';
import { timeBudget } from './test/helpers/time.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    // Two cores: more parallel files only make each slower (each holds a database and a worker).
    maxWorkers: 2,
    // A budget against hangs, not a speed target: on a loaded machine (other work beside the
    // suite) the longest tests — the state-machine property test, the CLI's many processes —
    // have run past 60 s. Speed is measured in `npm run bench`. TEST_TIME_SCALE multiplies every
    // budget (e.g. TEST_TIME_SCALE=3 on a slower or busier machine).
    testTimeout: timeBudget(180_000),
    hookTimeout: timeBudget(120_000),
    // expect.poll's own default (1 s) is a speed check in disguise on a busy machine.
    expect: { poll: { timeout: timeBudget(15_000), interval: 100 } },
    reporters: ['default'],
    sequence: { sequencer: LongestFirstSequencer },
  },
});
