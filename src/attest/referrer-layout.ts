import { createHash } from 'node:crypto';
import type { DsseEnvelope } from '../signing/envelope.js';
import type { Blob } from './attestation-layout.js';

/**
 * The OCI 1.1 referrer form cosign v2 reads (`cosign verify-attestation` looks for it first and,
 * when one is there, verifies only bundles): a manifest whose `subject` is the image, whose
 * `artifactType` is the Sigstore bundle media type, and whose one layer is a Sigstore bundle
 * v0.3 wrapping the same DSSE envelope as the legacy `.att` layer. Everything here is pure and
 * deterministic, so the same envelope always gives the same manifest digest: the referrers
 * index listing that digest means the attestation is already there.
 */
export const SIGSTORE_BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
/** The OCI empty descriptor's media type and content (image-spec 1.1, "Guidance for an empty descriptor"). */
const OCI_EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
const EMPTY_JSON = Buffer.from('{}');

/** The manifest the attestation refers to, as the registry serves it. */
export interface SubjectDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

export interface ReferrerArtifact {
  readonly config: Blob;
  readonly bundle: Blob;
  readonly manifest: Buffer;
  readonly manifestDigest: string;
}

/** The empty config every artifact manifest points at. */
export const EMPTY_CONFIG: Blob = {
  mediaType: OCI_EMPTY_MEDIA_TYPE,
  digest: sha256(EMPTY_JSON),
  size: EMPTY_JSON.length,
  bytes: EMPTY_JSON,
};

/**
 * A Sigstore bundle v0.3 with the envelope and a public-key hint (the key id): no certificate,
 * no transparency-log entry, which is why verifiers need `--insecure-ignore-tlog=true`.
 */
export function sigstoreBundle(envelope: DsseEnvelope): Blob {
  const bytes = Buffer.from(
    JSON.stringify({
      mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE,
      verificationMaterial: { publicKey: { hint: envelope.signatures[0]?.keyid ?? '' } },
      dsseEnvelope: {
        payload: envelope.payload,
        payloadType: envelope.payloadType,
        // keyid left empty, as cosign writes it: sigstore-go skips a signature whose keyid is not its
        // own fingerprint of the key (measured: cosign v2.6.5 finds 0 signatures with ours). The
        // keyid is not signed, and the hint above still names the key.
        signatures: envelope.signatures.map((signature) => ({ sig: signature.sig, keyid: '' })),
      },
    }),
  );
  return { mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length, bytes };
}

/** The referrer manifest for `subject`. No creation time, unlike cosign's: it would break idempotence. */
export function referrerArtifact(
  subject: SubjectDescriptor,
  envelope: DsseEnvelope,
  predicateType: string,
): ReferrerArtifact {
  const bundle = sigstoreBundle(envelope);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
      config: { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: EMPTY_CONFIG.size },
      layers: [{ mediaType: bundle.mediaType, digest: bundle.digest, size: bundle.size }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': predicateType,
      },
    }),
  );
  return { config: EMPTY_CONFIG, bundle, manifest, manifestDigest: sha256(manifest) };
}

/**
 * The manifest digests a referrers answer lists, or null when the answer is not an OCI index
 * (a registry without the API: distribution 2.8 answers 404, others an HTML page or a 200 with
 * something else).
 */
export function referrerDigests(contentType: string | undefined, body: Buffer): string[] | null {
  if (!isOciIndex(contentType)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  const manifests = (parsed as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(manifests)) return null;
  return manifests
    .map((descriptor) => (descriptor as { digest?: unknown } | null)?.digest)
    .filter((digest): digest is string => typeof digest === 'string');
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The answer says it is an OCI index (the referrers API's only answer type). */
export function isOciIndex(contentType: string | undefined): boolean {
  return contentType?.toLowerCase().startsWith(OCI_INDEX_MEDIA_TYPE) === true;
}
