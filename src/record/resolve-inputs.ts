import type { BlobPulledEvent, BlobVerification, PullVerification } from '../oci/events.js';
import type { ManifestKind } from '../oci/manifest.js';
import { type BuildRecord, type CountedArtifact, imageKey } from './build-record.js';
import { compareLocated, compareStrings } from './compare.js';

/**
 * What the build fetched: pulled manifests (with the blobs pulled for them), blobs pulled on
 * their own, and generic downloads. Deduplicated, deterministic order.
 */
export interface ResolvedManifestInput {
  readonly registry: string;
  readonly repository: string;
  /** sha256 of the body the client received. */
  readonly digest: string;
  readonly tags: readonly string[];
  readonly mediaType: string | null;
  readonly kind: ManifestKind;
  /** Worst over the pulls: `mismatch` if any pull disagreed, else `verified` if any was checked. */
  readonly verification: PullVerification;
  /** Digests that were asked for but not received (a mismatch): what the client requested. */
  readonly requestedDigests: readonly string[];
  readonly pullCount: number;
  /** Blobs this manifest references that the build pulled, by verification result. */
  readonly blobs: BlobTally;
  /** Digests of pulled indexes (same repository) that list this manifest. */
  readonly parents: readonly string[];
}

export interface BlobTally {
  readonly verified: number;
  readonly mismatched: readonly string[];
  readonly unverifiable: readonly string[];
}

export interface ResolvedBlobInput {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  /** null when the build read part of the blob only (ranged reads): nothing was computed. */
  readonly computedDigest: string | null;
  readonly verification: BlobVerification;
  readonly size: number;
  /** The chosen pull was a ranged read of part of the blob. */
  readonly partial: boolean;
}

export interface ResolvedArtifact {
  readonly url: string;
  readonly sha256: string;
  readonly size: number;
  readonly method: string;
  readonly status: number;
  readonly contentType: string | null;
  readonly count: number;
}

export interface ResolvedInputs {
  readonly manifests: readonly ResolvedManifestInput[];
  /** Blobs pulled that no pulled manifest references (fetched by digest directly). */
  readonly looseBlobs: readonly ResolvedBlobInput[];
  readonly downloads: readonly ResolvedArtifact[];
}

const VERIFICATION_RANK: Readonly<Record<PullVerification, number>> = {
  unchecked: 0,
  verified: 1,
  mismatch: 2,
};

export function resolveInputs(record: BuildRecord): ResolvedInputs {
  interface Acc {
    registry: string;
    repository: string;
    digest: string;
    tags: Set<string>;
    mediaType: string | null;
    kind: ManifestKind;
    verification: PullVerification;
    requested: Set<string>;
    pullCount: number;
    references: Set<string>;
    children: string[];
  }
  const manifests = new Map<string, Acc>();
  for (const pull of record.manifestPulls) {
    const key = imageKey(pull.registry, pull.repository, pull.digest);
    let acc = manifests.get(key);
    if (acc === undefined) {
      acc = {
        registry: pull.registry,
        repository: pull.repository,
        digest: pull.digest,
        tags: new Set(),
        mediaType: pull.mediaType,
        kind: pull.kind,
        verification: 'unchecked',
        requested: new Set(),
        pullCount: 0,
        references: new Set(),
        children: [],
      };
      manifests.set(key, acc);
    }
    acc.pullCount++;
    if (pull.reference.kind === 'tag') acc.tags.add(pull.reference.tag);
    else if (pull.reference.digest !== pull.digest) acc.requested.add(pull.reference.digest);
    if (VERIFICATION_RANK[pull.verification] > VERIFICATION_RANK[acc.verification])
      acc.verification = pull.verification;
    const manifest = pull.manifest;
    if (manifest !== null) {
      for (const digest of manifest.blobs) acc.references.add(digest);
      for (const child of manifest.manifests) acc.children.push(child.digest);
    }
  }

  const parentsOf = new Map<string, string[]>();
  for (const acc of manifests.values()) {
    for (const child of acc.children) {
      const key = imageKey(acc.registry, acc.repository, child);
      parentsOf.set(key, [...(parentsOf.get(key) ?? []), acc.digest]);
    }
  }

  const blobsByRepository = new Map<string, BlobPulledEvent[]>();
  for (const pull of record.blobPulls) {
    const key = imageKey(pull.registry, pull.repository, pull.digest);
    const list = blobsByRepository.get(key);
    if (list === undefined) blobsByRepository.set(key, [pull]);
    else list.push(pull);
  }
  const linked = new Set<string>();
  const resolvedManifests: ResolvedManifestInput[] = [...manifests.entries()].map(([key, acc]) => {
    const mismatched: string[] = [];
    const unverifiable: string[] = [];
    let verified = 0;
    for (const digest of [...acc.references].sort(compareStrings)) {
      const blobKey = imageKey(acc.registry, acc.repository, digest);
      const pulls = blobsByRepository.get(blobKey);
      if (pulls === undefined) continue;
      linked.add(blobKey);
      if (pulls.some((p) => p.verification === 'mismatch')) mismatched.push(digest);
      else if (pulls.some((p) => p.verification === 'unverifiable')) unverifiable.push(digest);
      else verified++;
    }
    return {
      registry: acc.registry,
      repository: acc.repository,
      digest: acc.digest,
      tags: [...acc.tags].sort(compareStrings),
      mediaType: acc.mediaType,
      kind: acc.kind,
      verification: acc.verification,
      requestedDigests: [...acc.requested].sort(compareStrings),
      pullCount: acc.pullCount,
      blobs: { verified, mismatched, unverifiable },
      parents: [...new Set(parentsOf.get(key) ?? [])].sort(compareStrings),
    };
  });

  const looseBlobs: ResolvedBlobInput[] = [];
  for (const [key, pulls] of blobsByRepository) {
    if (linked.has(key)) continue;
    const worst =
      pulls.find((p) => p.verification === 'mismatch') ??
      pulls.find((p) => p.verification !== 'verified') ??
      pulls[0]!;
    looseBlobs.push({
      registry: worst.registry,
      repository: worst.repository,
      digest: worst.digest,
      computedDigest: worst.computedDigest,
      verification: worst.verification,
      size: worst.size,
      partial: worst.computedDigest === null,
    });
  }

  return {
    manifests: resolvedManifests.sort(compareLocated),
    looseBlobs: looseBlobs.sort(compareLocated),
    downloads: dedupeArtifacts(record.downloads),
  };
}

/** One entry per URL and content; repeated fetches of the same bytes are counted. */
export function dedupeArtifacts(artifacts: readonly CountedArtifact[]): ResolvedArtifact[] {
  const byKey = new Map<string, ResolvedArtifact>();
  for (const { event, count } of artifacts) {
    const key = `${event.url} ${event.sha256}`;
    const current = byKey.get(key);
    byKey.set(
      key,
      current === undefined
        ? {
            url: event.url,
            sha256: event.sha256,
            size: event.size,
            method: event.method,
            status: event.status,
            contentType: event.contentType,
            count,
          }
        : { ...current, count: current.count + count },
    );
  }
  return [...byKey.values()].sort(
    (a, b) => compareStrings(a.url, b.url) || compareStrings(a.sha256, b.sha256),
  );
}
