import { ProvenanceProxyError } from '../errors.js';
import { type Digest, VERIFIABLE_ALGORITHM } from '../oci/digest.js';
import { formatImageReference, type ImageReference, parseImageReference } from '../oci/reference.js';
import { ReferenceFormatError } from './verify-errors.js';

/** The image `verify` checks: a registry written out and a sha256 digest, so the name means exactly one image. */
export type VerifyTarget = ImageReference & { readonly tag: undefined; readonly digest: Digest };

const USAGE = 'give <registry>/<repository>@sha256:<hex>';
const SHA256_RULE = `the digest must be sha256: and 64 lower-case hex digits; ${USAGE}`;

/** The image grammar of src/oci/reference.ts, held to what verification needs; errors say what to write. */
export function parseVerifyTarget(text: string): VerifyTarget {
  if (!text.includes('@')) throw new ReferenceFormatError(`${JSON.stringify(text)} has no digest; ${USAGE}`);
  let reference: ImageReference;
  try {
    reference = parseImageReference(text, { strict: true });
  } catch (error) {
    if (!(error instanceof ProvenanceProxyError)) throw error;
    throw new ReferenceFormatError(
      error.code === 'ERR_OCI_DIGEST' ? SHA256_RULE : `${error.message}; ${USAGE}`,
    );
  }
  if (reference.digest?.algorithm !== VERIFIABLE_ALGORITHM) throw new ReferenceFormatError(SHA256_RULE);
  if (reference.tag !== undefined) {
    throw new ReferenceFormatError(
      `give the digest without a tag (the digest is what is verified); ${USAGE}`,
    );
  }
  return reference as VerifyTarget;
}

/** The Grafeas `resourceUri` an occurrence about this image carries. */
export function grafeasResourceUrl(target: VerifyTarget): string {
  return `https://${formatImageReference(target)}`;
}
