import { ProvenanceProxyError } from '../errors.js';

/** The reference to verify is not `<registry>/<repository>@sha256:<hex>`. */
export class ReferenceFormatError extends ProvenanceProxyError {
  constructor(message: string) {
    super('ERR_VERIFY_REFERENCE', message);
  }
}

/** Envelopes could not be obtained: a file unreadable or not JSON, a store unreachable or refusing. */
export class EnvelopeSourceError extends ProvenanceProxyError {
  constructor(
    code: 'ERR_VERIFY_SOURCE_FILE' | 'ERR_VERIFY_SOURCE_GRAFEAS',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
