import type { ErrorCode } from '../error-codes.js';
import { ProvenanceProxyError } from '../errors.js';
import type { InTotoStatement } from '../provenance/statement-types.js';
import type { DsseEnvelope } from '../signing/envelope.js';

/** One signed statement on its way to the sinks. */
export interface SignedReport {
  /** Stable across restarts: the outbox and the sinks use it to deliver exactly once. */
  readonly reportId: string;
  /** `image`: sent as soon as one push is acknowledged; `build`: the complete statement at finalize. */
  readonly kind: 'image' | 'build';
  readonly statement: InTotoStatement;
  readonly envelope: DsseEnvelope;
  /** For `image` reports: the image the statement is about (registry authority, repository, digest). */
  readonly image?: { readonly registry: string; readonly repository: string; readonly digest: string };
}

/** A place provenance goes to. Small on purpose: Grafeas, files, and later OCI referrers. */
export interface ProvenanceSink {
  /** Stable name, used in metrics labels and logs (`grafeas`, `file`). */
  readonly name: string;
  /** Resolves when the sink has durably accepted the report; rejects with SinkError otherwise. Must be idempotent per reportId. */
  deliver(report: SignedReport): Promise<void>;
}

/**
 * Why a delivery failed, and whether trying again can help (`retryable`, decided by the sink that
 * saw the answer). Retryable failures are retried with backoff for as long as it takes; a failure
 * that is not retryable means the sink proved the payload itself unacceptable, and the outbox parks
 * the report in the dead-letter file (never drops it). `auth` marks a refused credential (401/403):
 * retried, and loud. The underlying error, if any, is the standard `cause`.
 */
export class SinkError extends ProvenanceProxyError {
  readonly auth: boolean;
  /** A short label for metrics and dead letters (`http_503`, `network`, `http_400`, ...). */
  readonly reason: string;
  constructor(
    code: Extract<
      ErrorCode,
      'ERR_SINK' | `ERR_SINK_${string}` | 'ERR_ATTESTATION_DENIED' | 'ERR_ATTESTATION_REGISTRY'
    >,
    message: string,
    opts: { retryable: boolean; reason: string; cause?: unknown; auth?: boolean },
  ) {
    super(code, message, opts);
    this.auth = opts.auth ?? false;
    this.reason = opts.reason;
  }
}
