/**
 * Tekton Chains type hints, made from what the proxy saw pushed (`GET /v1/images`).
 *
 * Chains reads output artifacts from specially named TaskRun results (tektoncd/chains
 * docs/slsa-provenance.md, "Type Hinting"):
 *   - `IMAGES`: images qualified by digest, separated by commas or newlines;
 *   - `*IMAGE_URL` / `*IMAGE_DIGEST`: one image's repository and its `sha256:<hex>`;
 *   - `*ARTIFACT_OUTPUTS`: an object result `{uri, digest}` (`isBuildArtifact: "true"` makes it a
 *     subject under the slsa/v2alpha4 formatter).
 * A result holds one value, so the single-image hints are written only when exactly one image was
 * pushed; with several, `IMAGES` alone names them all.
 */

/** The fields of one `/v1/images` entry this module reads. */
export interface PushedImage {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly registryDigest: string | null;
  readonly role?: 'output' | 'attachment';
  readonly deleted?: boolean;
  readonly digestAgreement?: {
    readonly registryDigest: boolean | null;
    readonly locationDigest: boolean | null;
    readonly reference: boolean | null;
  };
}

/** Result names this command owns: each is written, or removed when it does not apply. */
export const CHAINS_RESULT_NAMES = ['IMAGES', 'IMAGE_URL', 'IMAGE_DIGEST', 'ARTIFACT_OUTPUTS'] as const;
export type ChainsResultName = (typeof CHAINS_RESULT_NAMES)[number];

export interface ChainsResults {
  /** `registry/repository@sha256:<hex>` of every output, sorted. */
  readonly images: readonly string[];
  /** Result file name → content; a name absent here must not exist in the results directory. */
  readonly files: Partial<Record<ChainsResultName, string>>;
}

/** An output whose digest the registry (or the client's reference) contradicted. */
export interface DigestDisagreement {
  readonly reference: string;
  readonly registryDigest: string | null;
}

const SHA256 = /^sha256:[0-9a-f]{64}$/;

/**
 * Outputs only: attachments (signatures, SBOMs) are about an image, not images the build
 * produced, and index children are listed under their index. Deleted images are gone.
 */
export function reportedOutputs(images: readonly PushedImage[]): PushedImage[] {
  return images.filter((image) => (image.role ?? 'output') === 'output' && image.deleted !== true);
}

/** Outputs the proxy recorded with a contradicting digest: reporting them would vouch for a guess. */
export function digestDisagreements(images: readonly PushedImage[]): DigestDisagreement[] {
  return reportedOutputs(images)
    .filter((image) => {
      const agreement = image.digestAgreement;
      const contradicted =
        agreement?.registryDigest === false ||
        agreement?.locationDigest === false ||
        agreement?.reference === false;
      const differs = image.registryDigest !== null && image.registryDigest !== image.digest;
      return contradicted || differs || !SHA256.test(image.digest);
    })
    .map((image) => ({ reference: referenceOf(image), registryDigest: image.registryDigest }));
}

export function chainsResults(images: readonly PushedImage[]): ChainsResults {
  const outputs = reportedOutputs(images);
  const references = [...new Set(outputs.map(referenceOf))].sort();
  const files: Partial<Record<ChainsResultName, string>> = {};
  if (references.length > 0) files.IMAGES = references.join('\n');
  const [only] = outputs;
  if (references.length === 1 && only !== undefined) {
    const uri = `${only.registry}/${only.repository}`;
    files.IMAGE_URL = uri;
    files.IMAGE_DIGEST = only.digest;
    files.ARTIFACT_OUTPUTS = JSON.stringify({ uri, digest: only.digest, isBuildArtifact: 'true' });
  }
  return { images: references, files };
}

function referenceOf(image: PushedImage): string {
  return `${image.registry}/${image.repository}@${image.digest}`;
}
