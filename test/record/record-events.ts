import { createHash } from 'node:crypto';
import type {
  BlobMountedEvent,
  BlobPresentEvent,
  BlobUploadedEvent,
  BlobVerification,
  ManifestPushedEvent,
  OciEvent,
} from '../../src/oci/events.js';
import { MEDIA_TYPES, parseManifest } from '../../src/oci/manifest.js';

/** Events as the interpreter emits them, for record tests that need shapes the traces lack. */
export const REGISTRY = 'registry.test:5000';
let seq = 0;
const base = () => ({ exchangeId: `e-${++seq}`, at: 1_800_000_000_000 + seq });

export function digestOf(text: string | Buffer): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export function imageManifest(
  config: string,
  layers: readonly string[],
  extra: Record<string, unknown> = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: digestOf(config), size: config.length },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: digestOf(l),
        size: l.length,
      })),
      ...extra,
    }),
  );
}

export function indexManifest(
  children: readonly { bytes: Buffer; arch: string }[],
  extra: Record<string, unknown> = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: children.map((c) => ({
        mediaType: MEDIA_TYPES.ociManifest,
        digest: digestOf(c.bytes),
        size: c.bytes.length,
        platform: { architecture: c.arch, os: 'linux' },
      })),
      ...extra,
    }),
  );
}

export function pushed(
  repository: string,
  ref: string,
  bytes: Buffer,
  registry = REGISTRY,
): ManifestPushedEvent {
  const parsed = parseManifest(bytes, null);
  if (!parsed.ok) throw new Error(`test manifest does not parse: ${parsed.detail}`);
  const digest = digestOf(bytes);
  const byDigest = ref.startsWith('sha256:');
  return {
    ...base(),
    type: 'manifestPushed',
    registry,
    repository,
    status: 201,
    reference: byDigest ? { kind: 'digest', digest: ref } : { kind: 'tag', tag: ref },
    digest,
    size: bytes.length,
    registryDigest: digest,
    locationDigest: digest,
    agreement: { registryDigest: true, locationDigest: true, reference: byDigest ? ref === digest : null },
    mediaType: parsed.manifest.mediaType,
    contentType: parsed.manifest.mediaType,
    mediaTypeConsistent: true,
    kind: parsed.manifest.kind,
    manifest: parsed.manifest,
    unparsed: null,
    ociSubject: null,
  };
}

export function uploaded(
  repository: string,
  content: string,
  verification: BlobVerification = 'verified',
): BlobUploadedEvent {
  const digest = digestOf(content);
  return {
    ...base(),
    type: 'blobUploaded',
    registry: REGISTRY,
    repository,
    digest,
    computedDigest:
      verification === 'unverifiable' ? null : verification === 'verified' ? digest : digestOf('other'),
    verification,
    unverifiableReason: verification === 'unverifiable' ? 'hash_unavailable' : null,
    size: content.length,
    method: 'chunked',
    uploadId: `u-${seq}`,
  };
}

export function mounted(repository: string, content: string, from: string | null): BlobMountedEvent {
  return { ...base(), type: 'blobMounted', registry: REGISTRY, repository, digest: digestOf(content), from };
}

export function present(repository: string, content: string): BlobPresentEvent {
  return { ...base(), type: 'blobPresent', registry: REGISTRY, repository, digest: digestOf(content) };
}

export function deleted(repository: string, ref: string): OciEvent {
  return {
    ...base(),
    type: 'manifestDeleted',
    registry: REGISTRY,
    repository,
    reference: ref.startsWith('sha256:') ? { kind: 'digest', digest: ref } : { kind: 'tag', tag: ref },
  };
}
