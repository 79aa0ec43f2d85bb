import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
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

  constructor(captureLimit: number, continueFrom: Hash | 'fresh' | null = null) {
    this.#captureLimit = captureLimit;
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
      if (this.#size <= this.#captureLimit) this.#chunks.push(chunk);
      else {
        this.#chunks = null;
        this.#overflow = true;
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

  /** Call once, when the exchange is over. */
  finish(): BodyRecord {
    const sha256 = `sha256:${this.#hash.copy().digest('hex')}`;
    return {
      size: this.#size,
      sha256,
      complete: this.#complete,
      captured: this.#chunks === null ? null : Buffer.concat(this.#chunks, this.#size),
      captureOverflow: this.#overflow,
      continuedHash: this.#continuesOwnHash ? this.#hash : this.#continued,
    };
  }
}
