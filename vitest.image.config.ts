import { defineConfig } from 'vitest/config';
import { timeBudget } from './test/helpers/time.ts';

// `npm run test:image`: the container image as deployed. Heavy (it builds the image and runs
// containers), so it has its own script and never runs in `npm test`.
export default defineConfig({
  test: {
    include: ['test/image/**/*.image.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: timeBudget(600_000),
    hookTimeout: timeBudget(1_800_000),
    reporters: ['default'],
  },
});
