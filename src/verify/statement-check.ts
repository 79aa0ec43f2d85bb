import { formatImageName, type ImageName, parseImageName, sameImageName } from '../oci/reference.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_V1,
  type InTotoStatement,
  type ResourceDescriptor,
  SLSA_PROVENANCE_V1,
} from '../provenance/statement-types.js';
import type { VerifyTarget } from './verify-target.js';

export type StatementFailureReason =
  | 'payload_type'
  | 'not_json'
  | 'statement_type'
  | 'predicate_type'
  | 'predicate_invalid'
  | 'not_a_subject';

export type StatementCheck =
  | { readonly ok: true; readonly statement: InTotoStatement; readonly subject: ResourceDescriptor }
  | { readonly ok: false; readonly reason: StatementFailureReason; readonly message: string };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** True when a subject names this image: same sha256 and same registry/repository. */
function subjectNames(subject: unknown, target: VerifyTarget): boolean {
  if (!isRecord(subject) || !isRecord(subject.digest) || typeof subject.name !== 'string') return false;
  const sha256 = subject.digest.sha256;
  if (typeof sha256 !== 'string' || sha256.toLowerCase() !== target.digest.encoded) return false;
  const name = subjectName(subject.name);
  return name !== undefined && sameImageName(name, target);
}

/** A subject always names its registry; a name the grammar refuses names no image. */
function subjectName(text: string): ImageName | undefined {
  try {
    return parseImageName(text, { strict: true });
  } catch {
    return undefined;
  }
}

/**
 * Checks a verified payload: in-toto JSON, Statement v1 with a SLSA Provenance v1 predicate, and the
 * target image among its subjects. Parses the payload bytes themselves (the signed bytes), rejecting
 * invalid UTF-8 rather than letting the decoder substitute characters.
 */
export function checkStatement(payloadType: string, payload: Buffer, target: VerifyTarget): StatementCheck {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    return {
      ok: false,
      reason: 'payload_type',
      message: `payloadType is ${JSON.stringify(payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`,
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return { ok: false, reason: 'not_json', message: 'the payload is not UTF-8 JSON' };
  }
  if (!isRecord(parsed) || parsed._type !== IN_TOTO_STATEMENT_V1) {
    const found = isRecord(parsed) ? JSON.stringify(parsed._type) : 'not an object';
    return { ok: false, reason: 'statement_type', message: `_type is ${found}, not ${IN_TOTO_STATEMENT_V1}` };
  }
  if (parsed.predicateType !== SLSA_PROVENANCE_V1) {
    return {
      ok: false,
      reason: 'predicate_type',
      message: `predicateType is ${JSON.stringify(parsed.predicateType)}, not ${SLSA_PROVENANCE_V1}`,
    };
  }
  const predicate = parsed.predicate;
  const builderId =
    isRecord(predicate) && isRecord(predicate.runDetails) && isRecord(predicate.runDetails.builder)
      ? predicate.runDetails.builder.id
      : undefined;
  const buildType =
    isRecord(predicate) && isRecord(predicate.buildDefinition)
      ? predicate.buildDefinition.buildType
      : undefined;
  if (typeof builderId !== 'string' || typeof buildType !== 'string' || !Array.isArray(parsed.subject)) {
    return {
      ok: false,
      reason: 'predicate_invalid',
      message: 'the statement lacks subject, buildDefinition.buildType or runDetails.builder.id',
    };
  }
  const subject = parsed.subject.find((candidate) => subjectNames(candidate, target));
  if (subject === undefined) {
    return {
      ok: false,
      reason: 'not_a_subject',
      message: `${target.digest.value} in ${formatImageName(target)} is not a subject of the statement (${parsed.subject.length} subjects)`,
    };
  }
  return {
    ok: true,
    statement: parsed as unknown as InTotoStatement,
    subject: subject as ResourceDescriptor,
  };
}
