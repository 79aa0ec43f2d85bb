import type { ManifestPulledEvent, ManifestPushedEvent } from '../oci/events.js';
import type { Descriptor, ManifestKind, ParsedManifest } from '../oci/manifest.js';

/**
 * What the record keeps of a manifest: what the views answer with (digests, media types,
 * children, subject), never the body or its annotations. Events in the journal keep the parsed
 * manifest; the record, held in memory for the whole build and rebuilt at every start, keeps
 * this: a build that pushes or pulls many large manifests must not grow the proxy's heap with
 * their bodies.
 */
export interface ManifestFacts {
  readonly kind: ManifestKind;
  readonly mediaType: string;
  readonly artifactType: string | null;
  /** Config, then layers (or an artifact's blobs), each digest once. Empty for an index. */
  readonly blobs: readonly string[];
  /** Children of an index or manifest list. */
  readonly manifests: readonly Descriptor[];
  /** Digest of the manifest's `subject`. */
  readonly subject: string | null;
}

/** A push as the record keeps it. */
export type RecordedManifestPush = Omit<ManifestPushedEvent, 'manifest'> & {
  readonly manifest: ManifestFacts | null;
};

/** A pull as the record keeps it. */
export type RecordedManifestPull = Omit<ManifestPulledEvent, 'manifest'> & {
  readonly manifest: ManifestFacts | null;
};

export function manifestFacts(manifest: ParsedManifest | null): ManifestFacts | null {
  if (manifest === null) return null;
  const blobs = [
    ...(manifest.config ? [manifest.config.digest] : []),
    ...manifest.layers.map((layer) => layer.digest),
  ];
  return {
    kind: manifest.kind,
    mediaType: manifest.mediaType,
    artifactType: manifest.artifactType,
    blobs: [...new Set(blobs)],
    manifests: manifest.manifests.map(child),
    subject: manifest.subject?.digest ?? null,
  };
}

/** Only the descriptor's own fields: nothing else a hostile manifest put beside them. */
function child(descriptor: Descriptor): Descriptor {
  return {
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
    ...(descriptor.artifactType !== undefined ? { artifactType: descriptor.artifactType } : {}),
    ...(descriptor.platform !== undefined ? { platform: descriptor.platform } : {}),
  };
}

export function recordedPush(event: ManifestPushedEvent): RecordedManifestPush {
  return { ...event, manifest: manifestFacts(event.manifest) };
}

export function recordedPull(event: ManifestPulledEvent): RecordedManifestPull {
  return { ...event, manifest: manifestFacts(event.manifest) };
}
