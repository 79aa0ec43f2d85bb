import type { DigestAgreement, Unparsed } from '../oci/events.js';
import type { ManifestKind, Platform } from '../oci/manifest.js';
import { displayRegistry, displayRepository, formatDigestReference } from '../oci/reference.js';
import { type BuildRecord, imageKey } from './build-record.js';
import { type ResolvedImage, resolveImages } from './resolve-images.js';

/**
 * The body of `GET /v1/images`. The field names of the contract (registry, repository,
 * tags, digest, registryDigest, mediaType, kind, subject, children[digest, platform],
 * blobs{uploaded, mounted, present, unaccounted}) are relied on by other tools: never rename
 * them. Everything else is an addition.
 *
 * Listed: build outputs and attachments (attachments carry `subject`). Index children pushed by
 * digest appear under their index's `children`, not as entries of their own.
 */
export interface ImagesView {
  readonly images: readonly ImageView[];
  /**
   * Manifests that went to a registry whole with no answer the proxy could trust (the
   * upstream failed or was silent, or the proxy stopped first): the registry may hold them.
   * `recorded`: a later acknowledged push of the same digest to the same repository is in `images`.
   */
  readonly pushOutcomesUnknown: readonly UnknownPushView[];
}

export interface UnknownPushView {
  readonly registry: string;
  readonly repository: string;
  /** `registry/repository@digest`, the proxy's digest of the body sent. */
  readonly reference: string;
  readonly digest: string;
  readonly tag: string | null;
  readonly detail: string;
  readonly recorded: boolean;
}

export interface ImageView {
  /** Registry as clients write it: `host:port`, without the port when it is the default; `docker.io` for Docker Hub. */
  readonly registry: string;
  readonly repository: string;
  readonly tags: readonly string[];
  /** sha256 of the bytes the proxy saw pushed. */
  readonly digest: string;
  /** The registry's `Docker-Content-Digest`; null when it sent none. */
  readonly registryDigest: string | null;
  readonly mediaType: string | null;
  readonly kind: ManifestKind;
  readonly subject: string | null;
  readonly children: readonly ChildView[];
  readonly blobs: BlobsView;
  // Additions to the contract.
  /** `host:port` exactly as addressed: the registry's identity. */
  readonly authority: string;
  readonly role: 'output' | 'attachment';
  /** For attachments: the digest they are about (`subject`, or the digest a cosign tag names). */
  readonly attachedTo: string | null;
  /** `registry/repository@digest`. */
  readonly reference: string;
  readonly artifactType: string | null;
  readonly attachments: readonly string[];
  readonly movedTags: readonly string[];
  readonly digestAgreement: DigestAgreement;
  readonly mediaTypeConsistent: boolean;
  readonly unparsed: Unparsed | null;
  readonly pushCount: number;
  readonly deleted: boolean;
}

export interface ChildView {
  readonly digest: string;
  readonly platform: Platform | null;
  readonly mediaType: string;
  readonly pushed: boolean;
}

export interface BlobsView {
  readonly uploaded: readonly string[];
  readonly mounted: readonly string[];
  readonly present: readonly string[];
  readonly unaccounted: readonly string[];
  /** digest → repository it was mounted from (null: the registry chose). */
  readonly mountedFrom: Readonly<Record<string, string | null>>;
  /** Uploads of these digests that the proxy could not verify or that did not match. */
  readonly uploadProblems: readonly {
    readonly digest: string;
    readonly problem: 'mismatch' | 'unverifiable';
  }[];
}

export function imagesView(record: BuildRecord): ImagesView {
  return {
    images: resolveImages(record)
      .filter((image) => image.role !== 'child')
      .map(imageView),
    pushOutcomesUnknown: unknownPushes(record),
  };
}

function unknownPushes(record: BuildRecord): UnknownPushView[] {
  const pushed = new Set(
    record.pushes.map(({ event }) => imageKey(event.registry, event.repository, event.digest)),
  );
  return record.anomalies.flatMap((anomaly) => {
    if (
      anomaly.code !== 'push_outcome_unknown' ||
      anomaly.digest === undefined ||
      anomaly.repository === null
    )
      return [];
    return [
      {
        registry: displayRegistry(anomaly.registry),
        repository: displayRepository(anomaly.registry, anomaly.repository),
        reference: formatDigestReference(anomaly.registry, anomaly.repository, anomaly.digest),
        digest: anomaly.digest,
        tag: anomaly.reference?.kind === 'tag' ? anomaly.reference.tag : null,
        detail: anomaly.detail,
        recorded: pushed.has(imageKey(anomaly.registry, anomaly.repository, anomaly.digest)),
      },
    ];
  });
}

export function imageView(image: ResolvedImage): ImageView {
  return {
    registry: displayRegistry(image.registry),
    repository: displayRepository(image.registry, image.repository),
    tags: image.tags,
    digest: image.digest,
    registryDigest: image.registryDigest,
    mediaType: image.mediaType,
    // An attachment (cosign signature, attestation, referrer) is never a runnable image,
    // whatever its config says; and a cosign-tagged one names its subject by tag alone.
    kind: image.role === 'attachment' && image.kind === 'image' ? 'artifact' : image.kind,
    // The referrers fallback index (tag `sha256-<hex>`) lists attachments; it is not one itself.
    subject:
      image.subject ?? (image.role === 'attachment' && image.kind !== 'index' ? image.attachedTo : null),
    children: image.children.map((child) => ({
      digest: child.digest,
      platform: child.platform,
      mediaType: child.mediaType,
      pushed: child.pushed,
    })),
    blobs: blobsView(image),
    authority: image.registry,
    role: image.role === 'attachment' ? 'attachment' : 'output',
    attachedTo: image.attachedTo,
    reference: formatDigestReference(image.registry, image.repository, image.digest),
    artifactType: image.artifactType,
    attachments: image.attachments,
    movedTags: image.movedTags,
    digestAgreement: image.agreement,
    mediaTypeConsistent: image.mediaTypeConsistent,
    unparsed: image.unparsed,
    pushCount: image.pushCount,
    deleted: image.deleted,
  };
}

function blobsView(image: ResolvedImage): BlobsView {
  const pick = (disposition: string) =>
    image.blobs.filter((b) => b.disposition === disposition).map((b) => b.digest);
  const mountedFrom: Record<string, string | null> = {};
  for (const blob of image.blobs)
    if (blob.disposition === 'mounted') mountedFrom[blob.digest] = blob.mountedFrom ?? null;
  return {
    uploaded: pick('uploaded'),
    mounted: pick('mounted'),
    present: pick('present'),
    unaccounted: pick('unaccounted'),
    mountedFrom,
    uploadProblems: image.blobs.flatMap((b) =>
      b.uploadProblem ? [{ digest: b.digest, problem: b.uploadProblem }] : [],
    ),
  };
}
