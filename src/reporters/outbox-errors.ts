import { ProvenanceProxyError } from '../errors.js';

export type OutboxErrorCode =
  | 'ERR_OUTBOX_CLOSED'
  | 'ERR_OUTBOX_UNKNOWN_SINK'
  | 'ERR_OUTBOX_REPORT'
  | 'ERR_OUTBOX_REPLAY';

/**
 * The outbox refused a request (closed, unknown sink, malformed report) or found a journal line it
 * did not write. Journal failures themselves surface as JournalError.
 */
export class OutboxError extends ProvenanceProxyError {
  constructor(code: OutboxErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
