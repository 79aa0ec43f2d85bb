import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  /** What is awaited, for the error message. */
  what: string;
  /** How many times `check` runs before giving up. */
  attempts: number;
  /** Pause between two checks; the loop is bounded by `attempts`, never open-ended. */
  intervalMs: number;
}

/** Thrown when a bounded wait runs out of attempts; `lastError` is what the last check threw. */
export class WaitTimeoutError extends Error {
  readonly code = 'ERR_TEST_WAIT_TIMEOUT';
  constructor(what: string, attempts: number, lastError: unknown) {
    const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
    super(`gave up waiting for ${what} after ${attempts} attempts${detail}`, { cause: lastError });
  }
}

/**
 * Polls `check` (a real request or a real state read) until it returns a value other than
 * `undefined`/`false`, at most `attempts` times. A check that throws counts as "not yet".
 */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | false>,
  options: WaitOptions,
): Promise<T> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    try {
      const result = await check();
      if (result !== undefined && result !== false) return result;
    } catch (error) {
      lastError = error;
    }
    if (attempt < options.attempts) await delay(options.intervalMs);
  }
  throw new WaitTimeoutError(options.what, options.attempts, lastError);
}
