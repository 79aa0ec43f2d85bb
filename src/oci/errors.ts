import { ProvenanceProxyError } from '../errors.js';

/**
 * Errors raised while turning wire strings into OCI values. The interpreter
 * catches them and turns them into typed results: none of them ever reaches
 * the hot path.
 */

/** A digest string breaks the OCI descriptor grammar or its algorithm's encoding. */
export class InvalidDigestError extends ProvenanceProxyError {
  readonly input: string;
  constructor(input: string, rule: string) {
    super('ERR_OCI_DIGEST', `invalid digest ${JSON.stringify(clip(input))}: ${rule}`);
    this.input = clip(input);
  }
}

/** A repository name breaks the distribution-spec name grammar (or tries path traversal). */
export class InvalidRepositoryNameError extends ProvenanceProxyError {
  readonly input: string;
  constructor(input: string, rule: string) {
    super('ERR_OCI_NAME', `invalid repository name ${JSON.stringify(clip(input))}: ${rule}`);
    this.input = clip(input);
  }
}

/** A tag, manifest reference or registry authority breaks its grammar. */
export class InvalidReferenceError extends ProvenanceProxyError {
  readonly input: string;
  constructor(input: string, rule: string) {
    super('ERR_OCI_REFERENCE', `invalid reference ${JSON.stringify(clip(input))}: ${rule}`);
    this.input = clip(input);
  }
}

/** Messages quote the offending input; a hostile client must not be able to blow up a log line. */
function clip(input: string): string {
  return input.length > 200 ? `${input.slice(0, 200)}…` : input;
}

/** A path under /v2/ that names no OCI endpoint, or is encoded so as to forge one. */
export class InvalidRouteError extends ProvenanceProxyError {
  constructor(rule: string) {
    super('ERR_OCI_ROUTE', rule);
  }
}
