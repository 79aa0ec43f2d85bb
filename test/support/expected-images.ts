import type { RegistryContents, StoredManifest, StoredRepository } from './ground-truth.js';
import {
  type BlobEntry,
  blobDigest,
  type ComparableImage,
  comparableImage,
  type ImageRecord,
  platformString,
  sortImages,
} from './images-contract.js';
import { IMAGE_CONFIG_MEDIA_TYPES, INDEX_MEDIA_TYPES } from './manifest-types.js';
import type { BlobDisposition, ObservedBlobs } from './registry-log.js';

/** What the proxy must have recorded for one manifest, derived from the registry alone. */
export interface ExpectedImage extends ComparableImage {
  /** Blobs the manifest references (config + layers; none for an index). */
  referencedBlobs: string[];
}

/**
 * The proxy's expected `/v1/images` for the given registry contents, by these rules (issue 3
 * items 3–5; change them here, in one place, if the interpretation changes):
 * - every tagged manifest is an image record, with all tags pointing at it;
 * - an untagged manifest is a record of its own (a push by digest) unless an index in the same
 *   repository lists it: then it is only a child of that index;
 * - a manifest with a `subject` (attachment/referrer) is always a record of its own, kind
 *   `artifact`, even when a referrers fallback index (`sha256-<hex>` tag) lists it;
 * - kind: `index` for index/list media types; `artifact` when the manifest has an
 *   `artifactType` or a config that is not an image config; `image` otherwise;
 * - cosign's `sha256-<hex>.sig|.att|.sbom` tags name an attachment of `sha256:<hex>`: kind
 *   `artifact`, subject `sha256:<hex>` (cosign's legacy scheme has no `subject` field).
 */
export function expectedImages(contents: RegistryContents): ExpectedImage[] {
  const expected: ExpectedImage[] = [];
  for (const repository of contents.repositories) {
    const children = childDigests(repository);
    for (const manifest of repository.manifests) {
      const tags = tagsOf(repository, manifest.digest);
      const isChildOnly =
        tags.length === 0 && children.has(manifest.digest) && manifest.body.subject === undefined;
      if (isChildOnly) continue;
      expected.push(expectedImage(contents.host, repository.name, manifest, tags));
    }
  }
  return sortImages(expected);
}

function expectedImage(
  registry: string,
  repository: string,
  manifest: StoredManifest,
  tags: string[],
): ExpectedImage {
  const body = manifest.body;
  const cosignSubject = tags.map((tag) => COSIGN_TAG.exec(tag)?.[1]).find((hex) => hex !== undefined);
  const kind = cosignSubject === undefined ? manifestKind(manifest) : 'artifact';
  const referenced =
    kind === 'index' ? [] : [body.config?.digest, ...(body.layers ?? []).map((l) => l.digest)];
  return {
    registry,
    repository,
    tags,
    digest: manifest.digest,
    registryDigest: manifest.registryDigest ?? null,
    mediaType: manifest.mediaType,
    kind,
    subject: body.subject?.digest ?? (cosignSubject === undefined ? null : `sha256:${cosignSubject}`),
    children: (body.manifests ?? [])
      .map((child) => ({ digest: child.digest, platform: platformString(child.platform) }))
      .sort((a, b) => a.digest.localeCompare(b.digest)),
    referencedBlobs: [...new Set(referenced.filter((d): d is string => d !== undefined))].sort(),
  };
}

/** cosign's tag scheme for signatures, attestations and SBOMs of `sha256:<hex>`. */
const COSIGN_TAG = /^sha256-([a-f0-9]{64})\.(?:sig|att|sbom)$/;

export function manifestKind(manifest: StoredManifest): 'image' | 'index' | 'artifact' {
  if (INDEX_MEDIA_TYPES.has(manifest.mediaType)) return 'index';
  const configType = manifest.body.config?.mediaType;
  if (manifest.body.artifactType !== undefined) return 'artifact';
  if (configType !== undefined && !IMAGE_CONFIG_MEDIA_TYPES.has(configType)) return 'artifact';
  return 'image';
}

function childDigests(repository: StoredRepository): Set<string> {
  const children = new Set<string>();
  for (const manifest of repository.manifests) {
    for (const child of manifest.body.manifests ?? []) children.add(child.digest);
  }
  return children;
}

function tagsOf(repository: StoredRepository, digest: string): string[] {
  return Object.entries(repository.tags)
    .filter(([, tagged]) => tagged === digest)
    .map(([tag]) => tag)
    .sort();
}

/** The result of holding the proxy's records against the ground truth. */
export interface ImagesComparison {
  /** Comparable records the proxy reported, sorted (compare with `expected` using t.same). */
  actual: ComparableImage[];
  expected: ComparableImage[];
  /** Blob classification problems: each names the image, the digest and what is wrong. */
  blobProblems: string[];
}

/**
 * Compares the proxy's image records with the expected ones for the repositories selected by
 * `includes` (records elsewhere are left out on both sides), and checks each record's blob
 * classification against what the registry logged: every referenced blob must be classified,
 * only in dispositions the registry really saw for it in that repository, never `unaccounted`,
 * and no blob may be listed that the manifest does not reference.
 */
export function compareImages(
  recorded: readonly ImageRecord[],
  expected: readonly ExpectedImage[],
  observed: ObservedBlobs,
  includes: (registry: string, repository: string) => boolean,
): ImagesComparison {
  const selected = recorded.filter((image) => includes(image.registry, image.repository));
  const wanted = expected.filter((image) => includes(image.registry, image.repository));
  const blobProblems: string[] = [];
  for (const want of wanted) {
    const got = selected.find(
      (image) =>
        image.registry === want.registry &&
        image.repository === want.repository &&
        image.digest === want.digest,
    );
    if (got !== undefined) blobProblems.push(...blobClassificationProblems(got, want, observed));
  }
  return {
    actual: sortImages(selected.map(comparableImage)),
    expected: sortImages(wanted.map(({ referencedBlobs: _ignored, ...comparable }) => comparable)),
    blobProblems,
  };
}

const DISPOSITIONS: readonly BlobDisposition[] = ['uploaded', 'mounted', 'present'];

function blobClassificationProblems(
  got: ImageRecord,
  want: ExpectedImage,
  observed: ObservedBlobs,
): string[] {
  const problems: string[] = [];
  const where = `${got.registry}/${got.repository}@${got.digest}`;
  const blobs = got.blobs ?? { uploaded: [], mounted: [], present: [], unaccounted: [] };
  const seenInRepo = observed.dispositions.get(got.repository) ?? new Map<string, Set<BlobDisposition>>();
  const listed = new Set<string>();
  for (const disposition of [...DISPOSITIONS, 'unaccounted'] as const) {
    for (const entry of blobs[disposition] ?? []) {
      const digest = blobDigest(entry);
      listed.add(digest);
      if (!want.referencedBlobs.includes(digest) && want.kind !== 'index') {
        problems.push(`${where}: lists ${digest} as ${disposition}, but the manifest does not reference it`);
      } else if (disposition === 'unaccounted') {
        problems.push(
          `${where}: ${digest} is unaccounted, the registry saw ${describe(seenInRepo.get(digest))}`,
        );
      } else if (disposition === 'mounted' && !mountSourceAgrees(entry, observed, got.repository)) {
        problems.push(
          `${where}: ${digest} recorded as mounted from a repository the registry did not mount it from`,
        );
      } else if (!(seenInRepo.get(digest)?.has(disposition) ?? false)) {
        problems.push(
          `${where}: ${digest} recorded as ${disposition}, the registry saw ${describe(seenInRepo.get(digest))}`,
        );
      }
    }
  }
  for (const digest of want.referencedBlobs) {
    if (!listed.has(digest)) problems.push(`${where}: referenced blob ${digest} is in no disposition list`);
  }
  return problems;
}

/** When a mounted entry names its source (`from`), the registry must have mounted it from there. */
function mountSourceAgrees(entry: BlobEntry, observed: ObservedBlobs, repository: string): boolean {
  if (typeof entry === 'string' || typeof entry.from !== 'string') return true;
  return observed.mountedFrom.get(repository)?.get(entry.digest)?.has(entry.from) ?? false;
}

function describe(dispositions: Set<BlobDisposition> | undefined): string {
  return dispositions === undefined || dispositions.size === 0
    ? 'nothing'
    : [...dispositions].sort().join('+');
}
