/**
 * The JSON contract of the proxy's `GET /v1/images` (issue 3, item 9). Field names are the
 * contract; the proxy may add fields, which these tests ignore.
 */
export interface ImagesResponse {
  images: ImageRecord[];
}

/** A blob in a disposition list: a digest, or an object carrying one (e.g. with `from` for mounts). */
export type BlobEntry = string | { digest: string; [key: string]: unknown };

export interface ImageRecord {
  registry: string;
  repository: string;
  tags: string[];
  digest: string;
  registryDigest: string | null;
  mediaType: string;
  kind: 'image' | 'index' | 'artifact';
  subject: string | null;
  children: { digest: string; platform: unknown }[];
  blobs: {
    uploaded: BlobEntry[];
    mounted: BlobEntry[];
    present: BlobEntry[];
    unaccounted: BlobEntry[];
  };
}

/** The comparable core of an image record: what the ground truth fixes exactly. */
export interface ComparableImage {
  registry: string;
  repository: string;
  tags: string[];
  digest: string;
  registryDigest: string | null;
  mediaType: string;
  kind: string;
  subject: string | null;
  children: { digest: string; platform: string | null }[];
}

export function comparableImage(image: ImageRecord): ComparableImage {
  return {
    registry: image.registry,
    repository: image.repository,
    tags: [...(image.tags ?? [])].sort(),
    digest: image.digest,
    registryDigest: image.registryDigest ?? null,
    mediaType: image.mediaType,
    kind: image.kind,
    subject: image.subject ?? null,
    children: (image.children ?? [])
      .map((child) => ({ digest: child.digest, platform: platformString(child.platform) }))
      .sort((a, b) => a.digest.localeCompare(b.digest)),
  };
}

/** `{os, architecture, variant}` or an already formatted string → `os/architecture[/variant]`. */
export function platformString(platform: unknown): string | null {
  if (platform === null || platform === undefined) return null;
  if (typeof platform === 'string') return platform;
  if (typeof platform === 'object') {
    const { os, architecture, variant } = platform as {
      os?: string;
      architecture?: string;
      variant?: string;
    };
    return [os, architecture, variant].filter((part) => part !== undefined && part !== '').join('/');
  }
  return String(platform);
}

export function blobDigest(entry: BlobEntry): string {
  return typeof entry === 'string' ? entry : entry.digest;
}

export function sortImages<T extends { registry: string; repository: string; digest: string }>(
  images: T[],
): T[] {
  return [...images].sort(
    (a, b) =>
      a.registry.localeCompare(b.registry) ||
      a.repository.localeCompare(b.repository) ||
      a.digest.localeCompare(b.digest),
  );
}
