import { ProvenanceProxyError } from '../errors.js';

/** The injector's configuration file is unreadable or breaks a rule; `field` names where. */
export class InjectorConfigError extends ProvenanceProxyError {
  readonly field: string;
  constructor(field: string, rule: string) {
    super('ERR_INJECT_CONFIG', `injector config ${field}: ${rule}`);
    this.field = field;
  }
}

/** An AdmissionReview the webhook cannot answer (wrong apiVersion/kind, no uid, not JSON). */
export class AdmissionReviewError extends ProvenanceProxyError {
  constructor(message: string) {
    super('ERR_ADMISSION_REVIEW', message);
  }
}
