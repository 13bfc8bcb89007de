import { defineConfig } from 'vitest/config';
import LongestFirstSequencer from './test/helpers/sequencer.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    // Two cores: more parallel files only make each slower (each holds a database and a worker).
    maxWorkers: 2,
    // A budget against hangs, not a speed target: on a loaded machine (other work beside the
    // suite) the longest tests — the state-machine property test, the CLI's many processes —
    // have run past 60 s. Speed is measured in `npm run bench`.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    sequence: { sequencer: LongestFirstSequencer },
  },
});
