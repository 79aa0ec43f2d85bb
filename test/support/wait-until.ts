import { setTimeout as delay } from 'node:timers/promises';

/**
 * The tests' one bounded poll. Tests wait on events where there is one; where there is none, they
 * poll a real request or a real state read with this, never sleep.
 */
export interface WaitOptions {
  /** What is awaited, for the error message. */
  what: string;
  /** How many times `check` runs before giving up (default 200). */
  attempts?: number;
  /** Pause between two checks (default 50 ms); the loop is bounded by `attempts`, never open-ended. */
  intervalMs?: number;
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
 * Polls `check` until it returns a value other than `undefined`/`false`, at most `attempts`
 * times (default 200 × 50 ms = 10 s). A check that throws counts as "not yet"; the timeout
 * error names `what` and carries the last thrown error.
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions,
): Promise<T> {
  const attempts = options.attempts ?? 200;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const result = await check();
      if (result !== undefined && result !== false) return result;
    } catch (error) {
      lastError = error;
    }
    if (attempt < attempts) await delay(options.intervalMs ?? 50);
  }
  throw new WaitTimeoutError(options.what, attempts, lastError);
}
