import type { InjectionDecision } from './injection-plan.js';
import { AdmissionReviewError } from './injector-errors.js';
import type { Pod } from './pod-types.js';

const API_VERSION = 'admission.k8s.io/v1';

/** The fields of an `admission.k8s.io/v1` AdmissionReview request the injector uses. */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: string;
  namespace: string | undefined;
  /** Present for CREATE of a pod; null otherwise. */
  pod: Pod | null;
}

export function parseAdmissionReview(body: string): AdmissionRequest {
  let review: unknown;
  try {
    review = JSON.parse(body);
  } catch {
    throw new AdmissionReviewError('the body is not JSON');
  }
  const r = review as { apiVersion?: unknown; kind?: unknown; request?: Record<string, unknown> };
  if (r?.apiVersion !== API_VERSION || r.kind !== 'AdmissionReview') {
    throw new AdmissionReviewError(`expected an ${API_VERSION} AdmissionReview`);
  }
  const request = r.request;
  if (typeof request !== 'object' || request === null) throw new AdmissionReviewError('no request');
  if (typeof request.uid !== 'string' || request.uid === '') throw new AdmissionReviewError('no request.uid');
  const kind = (request.kind ?? {}) as AdmissionRequest['kind'];
  const object = request.object as Pod | undefined;
  const isPod = kind.group === '' && kind.kind === 'Pod';
  const hasSpec = typeof object === 'object' && object !== null && Array.isArray(object.spec?.containers);
  if (isPod && request.operation === 'CREATE' && !hasSpec) {
    throw new AdmissionReviewError('request.object is not a pod with spec.containers');
  }
  return {
    uid: request.uid,
    kind,
    operation: String(request.operation ?? ''),
    namespace: typeof request.namespace === 'string' ? request.namespace : undefined,
    pod: isPod && request.operation === 'CREATE' ? (object as Pod) : null,
  };
}

/** The AdmissionReview answer for a decision (JSONPatch, base64, as the API server expects). */
export function admissionResponse(uid: string, decision: InjectionDecision): object {
  const response: Record<string, unknown> = { uid, allowed: decision.kind !== 'deny' };
  if (decision.kind === 'deny') {
    response.status = { code: 403, reason: 'Forbidden', message: decision.message };
  }
  if (decision.kind === 'inject') {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  }
  return { apiVersion: API_VERSION, kind: 'AdmissionReview', response };
}
