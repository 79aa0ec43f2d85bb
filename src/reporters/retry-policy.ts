import { InvalidOptionError } from '../errors.js';

/** How the outbox retries a delivery that failed for a reason that may pass (5xx, 429, network). */
export interface RetryPolicy {
  /** Ceiling of the first retry's delay; doubles per failed attempt. */
  readonly baseDelayMs: number;
  /** The ceiling never grows beyond this. */
  readonly maxDelayMs: number;
  /** Give up (and record the report as expired) once it has waited this long since enqueue; null: never. */
  readonly maxAgeMs: number | null;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseDelayMs: 500, maxDelayMs: 60_000, maxAgeMs: null };

/** Fills defaults and checks every field once, at start-up; `option` prefixes the names in errors. */
export function resolveRetryPolicy(partial: Partial<RetryPolicy> = {}, option = 'outbox.retry'): RetryPolicy {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...partial };
  if (!Number.isSafeInteger(policy.baseDelayMs) || policy.baseDelayMs < 1) {
    throw new InvalidOptionError(`${option}.baseDelayMs`, 'must be a whole number of milliseconds >= 1');
  }
  if (!Number.isSafeInteger(policy.maxDelayMs) || policy.maxDelayMs < policy.baseDelayMs) {
    throw new InvalidOptionError(
      `${option}.maxDelayMs`,
      'must be a whole number of milliseconds >= baseDelayMs',
    );
  }
  if (policy.maxAgeMs !== null && (!Number.isSafeInteger(policy.maxAgeMs) || policy.maxAgeMs < 1)) {
    throw new InvalidOptionError(`${option}.maxAgeMs`, 'must be null (retry forever) or milliseconds >= 1');
  }
  return policy;
}

/**
 * Delay before the next attempt, after `failedAttempts` attempts have failed (1 after the first):
 * exponential backoff with full jitter, uniform in [0, min(maxDelayMs, baseDelayMs * 2^(failedAttempts-1))).
 * Full jitter spreads retries of many proxies hitting one recovering store instead of synchronising
 * them. `random` returns values in [0, 1) like Math.random; the result is whole milliseconds.
 */
export function backoffDelay(failedAttempts: number, policy: RetryPolicy, random: () => number): number {
  if (!Number.isSafeInteger(failedAttempts) || failedAttempts < 1) {
    throw new RangeError(`failedAttempts must be an integer >= 1, got ${failedAttempts}`);
  }
  // 2^1024 is Infinity; min() still yields maxDelayMs, but stop growing long before that.
  const exponent = Math.min(failedAttempts - 1, 52);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  const r = random();
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1 - Number.EPSILON) : 0;
  return Math.floor(unit * ceiling);
}
