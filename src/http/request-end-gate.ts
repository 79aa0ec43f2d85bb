import { Transform, type TransformCallback } from 'node:stream';

/**
 * Sits between a request body and its upstream request and withholds the most recent chunk:
 * everything but the last chunk flows on at once, and the last chunk (and the end of the
 * body) goes upstream only once `open()` resolves. Until then the upstream holds an
 * incomplete request it cannot act on, whatever the framing (a Content-Length body lacks
 * its last bytes, a chunked one its terminating chunk), so a later stage can make
 * something durable first. Memory: one chunk.
 *
 * When `open()` rejects, the stream errors and the withheld bytes are never sent.
 */
export class RequestEndGate extends Transform {
  readonly #open: () => Promise<void>;
  #held: Buffer | null = null;

  constructor(open: () => Promise<void>) {
    super();
    this.#open = open;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const previous = this.#held;
    this.#held = chunk;
    callback(null, previous ?? undefined);
  }

  override _flush(callback: TransformCallback): void {
    let opening: Promise<void>;
    try {
      opening = this.#open();
    } catch (error) {
      callback(error as Error);
      return;
    }
    opening.then(
      () => callback(null, this.#held ?? undefined),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  }
}
