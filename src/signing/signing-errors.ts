import { ProvenanceProxyError } from '../errors.js';

export type SigningKeyErrorCode =
  | 'ERR_SIGNING_KEY_UNREADABLE'
  | 'ERR_SIGNING_KEY_INVALID'
  | 'ERR_SIGNING_KEY_ENCRYPTED'
  | 'ERR_SIGNING_KEY_UNSUPPORTED'
  | 'ERR_SIGNING_KEYID_INVALID';

/**
 * The signing key given at start-up cannot be used. The message names the option and the rule,
 * never the key material: it is raised before anything else runs, so it ends up in start-up logs.
 */
export class SigningKeyError extends ProvenanceProxyError {
  readonly option: string;
  constructor(code: SigningKeyErrorCode, option: string, rule: string, options?: { cause?: unknown }) {
    super(code, `invalid option ${option}: ${rule}`, options);
    this.option = option;
  }
}

/** A public key given to verify with cannot be used. */
export class PublicKeyError extends ProvenanceProxyError {
  constructor(
    code: 'ERR_PUBLIC_KEY_INVALID' | 'ERR_PUBLIC_KEY_UNSUPPORTED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** The crypto library refused to sign; counted as a signing failure, the statement stays unsigned. */
export class SigningError extends ProvenanceProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SIGNING_FAILED', message, options);
  }
}
