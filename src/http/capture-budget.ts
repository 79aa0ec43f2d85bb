/**
 * One budget for every body byte the hot path keeps in memory at once (manifest and token
 * captures), shared by all exchanges in flight. Each capture is capped on its own
 * (`ExchangePlan.capture*Bytes`), but a build can open many at once: without a global cap,
 * 100 parallel 4 MiB manifest PUTs hold 400 MiB. Past the budget a body is still relayed and
 * hashed, only not kept; the tap says so (`BodyRecord.captureBudgetExceeded`) and later stages
 * record that the body could not be inspected.
 */
export class CaptureBudget {
  readonly limit: number;
  #inUse = 0;
  readonly #onRefused: () => void;

  constructor(limit: number, onRefused: () => void = () => {}) {
    this.limit = limit;
    this.#onRefused = onRefused;
  }

  /** Bytes held by captures in flight. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Takes `bytes` from the budget; false (and nothing taken) when they do not fit. */
  tryReserve(bytes: number): boolean {
    if (this.#inUse + bytes > this.limit) {
      this.#onRefused();
      return false;
    }
    this.#inUse += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#inUse = Math.max(0, this.#inUse - bytes);
  }
}

/** For callers that capture without a global cap (tests, tools). */
export const UNLIMITED_CAPTURE = new CaptureBudget(Number.MAX_SAFE_INTEGER);
