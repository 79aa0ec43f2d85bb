import type { InTotoStatement, ResourceDescriptor } from '../provenance/statement-types.js';
import { type DsseFailureReason, verifyEnvelope } from '../signing/dsse.js';
import type { VerificationKey } from '../signing/public-key.js';
import type { EnvelopeCandidate } from './envelope-candidate.js';
import { checkStatement, type StatementFailureReason } from './statement-check.js';
import type { VerifyTarget } from './verify-target.js';

export interface VerifiedStatement {
  readonly source: string;
  readonly statement: InTotoStatement;
  /** The subject that names the target image. */
  readonly subject: ResourceDescriptor;
  /** keyid carried by the signature that verified (unauthenticated hint). */
  readonly keyid: string;
  readonly key: VerificationKey;
}

export type ProvenanceFailureReason =
  | 'no_provenance'
  | DsseFailureReason
  | StatementFailureReason
  | RequirementFailureReason;

/** A signed statement about the image that the verifier's own requirements refuse. */
export type RequirementFailureReason = 'not_finished' | 'builder_mismatch';

/** What the caller demands beyond a valid signature and subject (`--require-finished`, `--builder-id`). */
export interface StatementRequirements {
  /** Refuse statements without `runDetails.metadata.finishedOn`: image statements and live snapshots. */
  readonly finished?: boolean;
  /** Refuse statements whose `runDetails.builder.id` is not exactly this. */
  readonly builderId?: string;
}

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
  builder_mismatch: 9,
  not_finished: 10,
};

/**
 * Accepts the envelopes that are signed by a trusted key over the bytes received, carry an in-toto v1
 * statement with a SLSA v1 predicate, and name the target image as a subject. Succeeds when at least
 * one does.
 */
export function verifyProvenance(
  target: VerifyTarget,
  candidates: readonly EnvelopeCandidate[],
  trustedKeys: readonly VerificationKey[],
  requirements: StatementRequirements = {},
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
    const unmet = unmetRequirement(check.statement, requirements);
    if (unmet !== undefined) {
      refusals.push({ ...unmet, source });
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

function unmetRequirement(
  statement: InTotoStatement,
  requirements: StatementRequirements,
): { reason: RequirementFailureReason; message: string } | undefined {
  const { runDetails } = statement.predicate;
  if (requirements.builderId !== undefined && runDetails.builder.id !== requirements.builderId) {
    return {
      reason: 'builder_mismatch',
      message: `the builder is ${JSON.stringify(runDetails.builder.id)}, not ${JSON.stringify(requirements.builderId)}`,
    };
  }
  // checkStatement vouches for the shape up to builder.id; metadata is optional in SLSA v1.
  const finishedOn = (runDetails.metadata as { finishedOn?: unknown } | undefined)?.finishedOn;
  if (requirements.finished === true && (typeof finishedOn !== 'string' || finishedOn === '')) {
    return {
      reason: 'not_finished',
      message:
        'the statement is not of a finished build (no runDetails.metadata.finishedOn): an image statement or a snapshot taken while the build ran',
    };
  }
  return undefined;
}
