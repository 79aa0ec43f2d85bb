import t from 'tap';
import { InvalidOptionError } from '../../src/errors.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, resolveRetryPolicy } from '../../src/reporters/retry-policy.js';

const policy = resolveRetryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
const always = (r: number) => () => r;

t.test('full jitter: uniform below min(max, base * 2^(attempt-1))', async (t) => {
  const cases: Array<[attempt: number, random: number, expected: number]> = [
    [1, 0, 0],
    [1, 0.5, 50],
    [1, 0.999, 99],
    [2, 0.5, 100],
    [3, 0.5, 200],
    [4, 0.5, 400],
    [4, 0.999, 799],
    [5, 0.5, 500], // ceiling 1600 capped at 1000
    [5, 0.999, 999],
    [60, 0.5, 500], // no overflow on long outages
    [100_000, 0.25, 250],
  ];
  for (const [attempt, random, expected] of cases) {
    t.equal(backoffDelay(attempt, policy, always(random)), expected, `attempt ${attempt}, random ${random}`);
  }
});

t.test('the delay stays below the ceiling even for odd random sources', async (t) => {
  for (const random of [1, 1.5, -0.5, Number.NaN]) {
    const delay = backoffDelay(3, policy, always(random));
    t.ok(delay >= 0 && delay < 400 && Number.isInteger(delay), `random ${random} gave ${delay}`);
  }
});

t.test('the ceiling grows with attempts (Math.random, many draws)', async (t) => {
  for (const attempt of [1, 2, 3, 4, 5, 8]) {
    const ceiling = Math.min(1000, 100 * 2 ** (attempt - 1));
    const draws = Array.from({ length: 200 }, () => backoffDelay(attempt, policy, Math.random));
    t.ok(
      draws.every((d) => d >= 0 && d < ceiling),
      `attempt ${attempt}: all in [0, ${ceiling})`,
    );
    t.ok(Math.max(...draws) >= ceiling / 2, `attempt ${attempt}: jitter spreads over the range`);
  }
});

t.test('attempts must be counted from 1', async (t) => {
  for (const attempt of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => backoffDelay(attempt, policy, Math.random), RangeError, String(attempt));
  }
});

t.test('policies are validated once, naming the option', async (t) => {
  t.same(resolveRetryPolicy(), DEFAULT_RETRY_POLICY);
  t.same(resolveRetryPolicy({ maxAgeMs: 60_000 }), { ...DEFAULT_RETRY_POLICY, maxAgeMs: 60_000 });
  const bad: Array<[Parameters<typeof resolveRetryPolicy>[0], string]> = [
    [{ baseDelayMs: 0 }, 'outbox.retry.baseDelayMs'],
    [{ baseDelayMs: 1.5 }, 'outbox.retry.baseDelayMs'],
    [{ baseDelayMs: 100, maxDelayMs: 50 }, 'outbox.retry.maxDelayMs'],
    [{ maxAgeMs: 0 }, 'outbox.retry.maxAgeMs'],
    [{ maxAgeMs: Number.POSITIVE_INFINITY }, 'outbox.retry.maxAgeMs'],
  ];
  for (const [partial, option] of bad) {
    t.throws(() => resolveRetryPolicy(partial), InvalidOptionError, JSON.stringify(partial));
    t.throws(() => resolveRetryPolicy(partial), { code: 'ERR_INVALID_OPTION', option }, option);
  }
});
