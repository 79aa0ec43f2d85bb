import { createHash } from 'node:crypto';
import { BYPRODUCT_URNS } from '../provenance/statement.js';
import type { InTotoStatement } from '../provenance/statement-types.js';
import type { ResolvedImage } from '../record/resolve-images.js';

/**
 * Report ids: the outbox and every sink are idempotent per id, so an id says when a report is news.
 */

/** One report per image and tag set: a retag is news, a re-push of the same thing is not. */
export function imageReportId(image: ResolvedImage): string {
  const key = `${image.registry}/${image.repository}@${image.digest}#${[...image.tags].sort().join(',')}`;
  return `image-${sha256Hex(key).slice(0, 32)}`;
}

/** A child of an index, attested in the registry only. */
export function childAttestationId(image: { registry: string; repository: string; digest: string }): string {
  return `attest-${sha256Hex(`${image.registry}/${image.repository}@${image.digest}`).slice(0, 32)}`;
}

/** Same outputs and inputs, same id: the build statement is news only when its content is. */
export function buildReportId(invocationId: string, statement: InTotoStatement): string {
  const content = {
    subjects: statement.subject.map((s) => [s.name, s.digest, s.annotations ?? null]),
    inputs: (statement.predicate.buildDefinition.resolvedDependencies ?? []).map((d) => [d.uri, d.digest]),
    // A claim withdrawn after a finalize is news: the last report must not keep claiming it.
    egressComplete: (
      statement.predicate.runDetails.byproducts?.find((b) => b.uri === BYPRODUCT_URNS.egress)?.annotations?.[
        'capture'
      ] as { egressComplete?: boolean } | undefined
    )?.egressComplete,
  };
  return `build-${invocationId}-${sha256Hex(JSON.stringify(content)).slice(0, 16)}`;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
