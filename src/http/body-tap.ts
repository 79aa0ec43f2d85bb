import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type CaptureBudget, UNLIMITED_CAPTURE } from './capture-budget.js';
import type { BodyRecord } from './completed-exchange.js';

/**
 * Hashes, counts and (when asked) keeps a body while it streams past.
 *
 * It listens to 'data' beside the pipe instead of sitting in the pipe as a
 * Transform: no extra stream, no extra buffering, and backpressure stays
 * exactly the pipe's own (a paused source emits no 'data').
 */
export class BodyTap {
  #size = 0;
  #complete = false;
  readonly #hash: Hash = createHash('sha256');
  readonly #continued: Hash | null;
  readonly #continuesOwnHash: boolean;
  readonly #captureLimit: number;
  #chunks: Buffer[] | null;
  #overflow = false;
  readonly #budget: CaptureBudget;
  /** Bytes of #chunks reserved from the budget. */
  #reserved = 0;
  #budgetExceeded = false;

  constructor(
    captureLimit: number,
    continueFrom: Hash | 'fresh' | null = null,
    budget: CaptureBudget = UNLIMITED_CAPTURE,
  ) {
    this.#captureLimit = captureLimit;
    this.#budget = budget;
    this.#chunks = captureLimit > 0 ? [] : null;
    this.#continuesOwnHash = continueFrom === 'fresh';
    this.#continued = continueFrom === null || continueFrom === 'fresh' ? null : continueFrom.copy();
  }

  observe(stream: Readable): void {
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.once('end', () => {
      this.#complete = true;
    });
  }

  /** For bodies the proxy does not stream itself (e.g. an empty one it knows is complete). */
  markComplete(): void {
    this.#complete = true;
  }

  get size(): number {
    return this.#size;
  }

  /** The body reached its end. */
  get complete(): boolean {
    return this.#complete;
  }

  #onData(chunk: Buffer): void {
    this.#size += chunk.length;
    this.#hash.update(chunk);
    this.#continued?.update(chunk);
    if (this.#chunks !== null) {
      if (this.#size > this.#captureLimit) {
        this.#dropCapture();
        this.#overflow = true;
      } else if (this.#budget.tryReserve(chunk.length)) {
        this.#reserved += chunk.length;
        this.#chunks.push(chunk);
      } else {
        this.#dropCapture();
        this.#budgetExceeded = true;
      }
    }
  }

  /** Size, digest and completeness so far, for a look before the exchange is over: no bytes, no hash state. */
  snapshot(): BodyRecord {
    return {
      size: this.#size,
      sha256: `sha256:${this.#hash.copy().digest('hex')}`,
      complete: this.#complete,
      captured: null,
      captureOverflow: this.#overflow,
      continuedHash: null,
    };
  }

  #dropCapture(): void {
    this.#chunks = null;
    this.#budget.release(this.#reserved);
    this.#reserved = 0;
  }

  /** Call once, when the exchange is over. */
  /**
   * Call once, when the exchange is over. The budget is given back here: the captured bytes
   * go to the exchange sink, which takes them synchronously, before any other capture runs.
   */
  finish(): BodyRecord {
    const sha256 = `sha256:${this.#hash.copy().digest('hex')}`;
    const captured = this.#chunks === null ? null : Buffer.concat(this.#chunks, this.#size);
    this.#chunks = null;
    this.#budget.release(this.#reserved);
    this.#reserved = 0;
    return {
      size: this.#size,
      sha256,
      complete: this.#complete,
      captured,
      captureOverflow: this.#overflow,
      ...(this.#budgetExceeded ? { captureBudgetExceeded: true } : {}),
      continuedHash: this.#continuesOwnHash ? this.#hash : this.#continued,
    };
  }
}
