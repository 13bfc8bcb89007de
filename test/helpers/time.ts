/**
 * Time limits in tests are budgets against hangs, never speed checks: each is multiplied by
 * TEST_TIME_SCALE (default 1; e.g. 3 on a slow or loaded machine).
 */
export const TEST_TIME_SCALE = (() => {
  const raw = process.env.TEST_TIME_SCALE?.trim();
  if (!raw) return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`TEST_TIME_SCALE must be a positive number, got "${raw}"`);
  return n;
})();

export const timeBudget = (ms: number): number => Math.round(ms * TEST_TIME_SCALE);
