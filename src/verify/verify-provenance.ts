import type { InTotoStatement, ResourceDescriptor } from '../provenance/statement-types.js';
import { type DsseFailureReason, verifyEnvelope } from '../signing/dsse.js';
import type { VerificationKey } from '../signing/public-key.js';
import type { EnvelopeCandidate } from './envelope-candidate.js';
import type { DigestReference } from './image-reference.js';
import { checkStatement, type StatementFailureReason } from './statement-check.js';

export interface VerifiedStatement {
  readonly source: string;
  readonly statement: InTotoStatement;
  /** The subject that names the target image. */
  readonly subject: ResourceDescriptor;
  /** keyid carried by the signature that verified (unauthenticated hint). */
  readonly keyid: string;
  readonly key: VerificationKey;
}

export type ProvenanceFailureReason = 'no_provenance' | DsseFailureReason | StatementFailureReason;

export type ProvenanceVerification =
  | { readonly ok: true; readonly verified: readonly VerifiedStatement[] }
  | {
      readonly ok: false;
      readonly reason: ProvenanceFailureReason;
      readonly message: string;
      /** One line per envelope tried: `<source>: <why it was refused>`. */
      readonly details: readonly string[];
    };

/**
 * How far a refused envelope got. When several are refused, the one that got furthest explains the
 * failure best: "signed by your key, but not about this digest" says more than "not signed by your key".
 */
const PROGRESS: Record<Exclude<ProvenanceFailureReason, 'no_provenance'>, number> = {
  malformed_envelope: 0,
  no_signatures: 1,
  no_matching_key: 2,
  payload_type: 3,
  not_json: 4,
  statement_type: 5,
  predicate_type: 6,
  predicate_invalid: 7,
  not_a_subject: 8,
};

/**
 * Accepts the envelopes that are signed by a trusted key over the bytes received, carry an in-toto v1
 * statement with a SLSA v1 predicate, and name the target image as a subject. Succeeds when at least
 * one does.
 */
export function verifyProvenance(
  target: DigestReference,
  candidates: readonly EnvelopeCandidate[],
  trustedKeys: readonly VerificationKey[],
): ProvenanceVerification {
  if (candidates.length === 0) {
    return {
      ok: false,
      reason: 'no_provenance',
      message: 'no provenance envelope found for this image',
      details: [],
    };
  }
  const verified: VerifiedStatement[] = [];
  const refusals: {
    reason: Exclude<ProvenanceFailureReason, 'no_provenance'>;
    message: string;
    source: string;
  }[] = [];
  for (const { source, envelope } of candidates) {
    const signature = verifyEnvelope(envelope, trustedKeys);
    if (!signature.ok) {
      refusals.push({ reason: signature.reason, message: signature.message, source });
      continue;
    }
    const check = checkStatement(signature.payloadType, signature.payload, target);
    if (!check.ok) {
      refusals.push({ reason: check.reason, message: check.message, source });
      continue;
    }
    verified.push({
      source,
      statement: check.statement,
      subject: check.subject,
      keyid: signature.keyid,
      key: signature.key,
    });
  }
  if (verified.length > 0) return { ok: true, verified };
  const best = refusals.reduce((a, b) => (PROGRESS[b.reason] > PROGRESS[a.reason] ? b : a));
  const suffix = candidates.length > 1 ? ` (${candidates.length} envelopes tried, none accepted)` : '';
  return {
    ok: false,
    reason: best.reason,
    message: `${best.message}${suffix}`,
    details: refusals.map((refusal) => `${refusal.source}: ${refusal.message}`),
  };
}
