import type { DigestAgreement, Unparsed } from '../oci/events.js';
import type { ManifestKind, Platform } from '../oci/manifest.js';
import {
  type BlobClassification,
  type BlobDisposition,
  type BuildRecord,
  imageKey,
  type RecordedPush,
} from './build-record.js';
import { compareLocated, compareStrings } from './compare.js';
import type { ManifestFacts } from './manifest-facts.js';

/**
 * The images a build pushed, resolved from the whole record. Done at view time because the
 * answer depends on later events: index children are pushed before their index, a tag may move
 * to another digest, an attachment may arrive after its subject.
 */

/**
 * `output`: a build output (tagged, or pushed by digest and referenced by no pushed index).
 * `child`: pushed by digest only, and a child of a pushed index: linked under it, not separate.
 * `attachment`: has a `subject`, or a cosign `sha256-<hex>.sig/.att/.sbom` tag: about another image.
 */
export type ImageRole = 'output' | 'child' | 'attachment';

export interface ResolvedChild {
  readonly digest: string;
  readonly mediaType: string;
  readonly platform: Platform | null;
  /** Whether this build pushed the child (else it already was in the repository). */
  readonly pushed: boolean;
}

export interface ResolvedImage {
  readonly key: string;
  /** Authority as addressed (`host:port`): the registry's identity. */
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly role: ImageRole;
  /** Tags that point at this digest at the end of the build, sorted. */
  readonly tags: readonly string[];
  /** Tags this build pushed for this digest that a later push moved to another digest. */
  readonly movedTags: readonly string[];
  readonly pushedByDigest: boolean;
  readonly pushCount: number;
  readonly firstPushedAt: number;
  readonly lastPushedAt: number;
  readonly registryDigest: string | null;
  readonly agreement: DigestAgreement;
  readonly mediaType: string | null;
  readonly mediaTypeConsistent: boolean;
  readonly kind: ManifestKind;
  readonly artifactType: string | null;
  readonly manifest: ManifestFacts | null;
  readonly unparsed: Unparsed | null;
  /** The manifest's own `subject` (or the registry's `OCI-Subject`). */
  readonly subject: string | null;
  /** What this manifest is about, when it is an attachment: its subject, or the digest a cosign tag names. */
  readonly attachedTo: string | null;
  readonly children: readonly ResolvedChild[];
  /** Digests of pushed indexes (same repository) that list this manifest. */
  readonly parents: readonly string[];
  /** Digests of attachments (same repository) whose subject is this manifest. */
  readonly attachments: readonly string[];
  /** Own blobs for manifests; for an index, the blobs of its pushed children. */
  readonly blobs: readonly BlobClassification[];
  /** A manifest DELETE by digest, acknowledged after the last push. */
  readonly deleted: boolean;
}

const COSIGN_TAG = /^sha256-([a-f0-9]{64})(?:\.[a-z0-9]+)?$/;
const DISPOSITION_STRENGTH: Readonly<Record<BlobDisposition, number>> = {
  uploaded: 3,
  mounted: 2,
  present: 1,
  unaccounted: 0,
};

interface Group {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly pushes: RecordedPush[];
}

export function resolveImages(record: BuildRecord): ResolvedImage[] {
  const groups = groupPushes(record.pushes);
  const currentTags = tagsAtEnd(record);
  const deletedAfter = deletionsByImage(record);

  // Children: digests listed by any pushed index, per repository.
  const parentsOf = new Map<string, string[]>();
  for (const group of groups.values()) {
    const manifest = latest(group).event.manifest;
    if (manifest === null) continue;
    for (const child of manifest.manifests) {
      const key = imageKey(group.registry, group.repository, child.digest);
      const list = parentsOf.get(key) ?? [];
      if (!list.includes(group.digest)) list.push(group.digest);
      parentsOf.set(key, list);
    }
  }

  const attachedTo = new Map<string, string | null>();
  for (const [key, group] of groups) attachedTo.set(key, subjectOf(group) ?? cosignSubjectOf(group));
  const attachmentsOf = new Map<string, string[]>();
  for (const [key, target] of attachedTo) {
    if (target === null) continue;
    const group = groups.get(key)!;
    const subjectKey = imageKey(group.registry, group.repository, target);
    const list = attachmentsOf.get(subjectKey) ?? [];
    list.push(group.digest);
    attachmentsOf.set(subjectKey, list);
  }

  const images: ResolvedImage[] = [];
  for (const [key, group] of groups) {
    const last = latest(group);
    const event = last.event;
    const everTagged = group.pushes.some((push) => push.event.reference.kind === 'tag');
    const pushedTags = new Set(
      group.pushes.flatMap((p) => (p.event.reference.kind === 'tag' ? [p.event.reference.tag] : [])),
    );
    const tags = [...pushedTags].filter((tag) => currentTags.get(tagKey(group, tag)) === group.digest).sort();
    const movedTags = [...pushedTags].filter((tag) => !tags.includes(tag)).sort();
    const parents = (parentsOf.get(key) ?? []).slice().sort();
    const subject = subjectOf(group);
    const about = attachedTo.get(key) ?? null;
    const role: ImageRole =
      about !== null ? 'attachment' : !everTagged && parents.length > 0 ? 'child' : 'output';
    const children = (event.manifest?.manifests ?? []).map((child) => ({
      digest: child.digest,
      mediaType: child.mediaType,
      platform: child.platform ?? null,
      pushed: groups.has(imageKey(group.registry, group.repository, child.digest)),
    }));
    const ownBlobs = strongest(group.pushes.flatMap((push) => push.blobs));
    const blobs =
      children.length > 0
        ? strongest([
            ...ownBlobs,
            ...children.flatMap((child) => {
              const childGroup = groups.get(imageKey(group.registry, group.repository, child.digest));
              return childGroup ? childGroup.pushes.flatMap((push) => push.blobs) : [];
            }),
          ])
        : ownBlobs;
    const deletion = deletedAfter.get(key);
    images.push({
      key,
      registry: group.registry,
      repository: group.repository,
      digest: group.digest,
      role,
      tags,
      movedTags,
      pushedByDigest: group.pushes.some((push) => push.event.reference.kind === 'digest'),
      pushCount: group.pushes.length,
      firstPushedAt: group.pushes[0]!.event.at,
      lastPushedAt: event.at,
      registryDigest: lastNonNull(group.pushes.map((push) => push.event.registryDigest)),
      agreement: mergeAgreement(group.pushes.map((push) => push.event.agreement)),
      mediaType: event.mediaType,
      mediaTypeConsistent: group.pushes.every((push) => push.event.mediaTypeConsistent),
      kind: event.kind,
      artifactType: event.manifest?.artifactType ?? null,
      manifest: event.manifest,
      unparsed: event.unparsed,
      subject,
      attachedTo: about,
      children,
      parents,
      attachments: (attachmentsOf.get(key) ?? []).slice().sort(),
      blobs,
      deleted: deletion !== undefined && deletion > last.seq,
    });
  }
  return images.sort(compareLocated);
}

function groupPushes(pushes: readonly RecordedPush[]): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const push of pushes) {
    const { registry, repository, digest } = push.event;
    const key = imageKey(registry, repository, digest);
    let group = groups.get(key);
    if (group === undefined) {
      group = { registry, repository, digest, pushes: [] };
      groups.set(key, group);
    }
    group.pushes.push(push);
  }
  return groups;
}

/** registry|repository|tag → the digest its last acknowledged push (or delete) left it on. */
function tagsAtEnd(record: BuildRecord): Map<string, string | null> {
  const events: { seq: number; key: string; digest: string | null }[] = [];
  for (const push of record.pushes) {
    if (push.event.reference.kind === 'tag') {
      events.push({
        seq: push.seq,
        key: tagKey(push.event, push.event.reference.tag),
        digest: push.event.digest,
      });
    }
  }
  for (const deletion of record.deletions) {
    const event = deletion.event;
    if (event.type === 'manifestDeleted' && event.reference.kind === 'tag') {
      events.push({ seq: deletion.seq, key: tagKey(event, event.reference.tag), digest: null });
    }
  }
  events.sort((a, b) => a.seq - b.seq);
  const tags = new Map<string, string | null>();
  for (const event of events) tags.set(event.key, event.digest);
  return tags;
}

/** imageKey → seq of the last acknowledged manifest DELETE by digest. */
function deletionsByImage(record: BuildRecord): Map<string, number> {
  const result = new Map<string, number>();
  for (const { seq, event } of record.deletions) {
    if (event.type === 'manifestDeleted' && event.reference.kind === 'digest') {
      result.set(imageKey(event.registry, event.repository, event.reference.digest), seq);
    }
  }
  return result;
}

function subjectOf(group: Group): string | null {
  for (const push of [...group.pushes].reverse()) {
    const subject = push.event.manifest?.subject ?? push.event.ociSubject;
    if (subject) return subject;
  }
  return null;
}

/** cosign's tag schema (`sha256-<hex>.sig`, `.att`, `.sbom`) and the referrers fallback tag (`sha256-<hex>`). */
function cosignSubjectOf(group: Group): string | null {
  for (const push of group.pushes) {
    if (push.event.reference.kind !== 'tag') continue;
    const match = COSIGN_TAG.exec(push.event.reference.tag);
    if (match) return `sha256:${match[1]}`;
  }
  return null;
}

/** One classification per digest, the strongest evidence wins; problems are kept. */
function strongest(blobs: readonly BlobClassification[]): BlobClassification[] {
  const byDigest = new Map<string, BlobClassification>();
  for (const blob of blobs) {
    const current = byDigest.get(blob.digest);
    if (
      current === undefined ||
      DISPOSITION_STRENGTH[blob.disposition] > DISPOSITION_STRENGTH[current.disposition]
    ) {
      const uploadProblem = blob.uploadProblem ?? current?.uploadProblem;
      byDigest.set(blob.digest, uploadProblem === undefined ? blob : { ...blob, uploadProblem });
    }
  }
  return [...byDigest.values()].sort((a, b) => compareStrings(a.digest, b.digest));
}

function mergeAgreement(agreements: readonly DigestAgreement[]): DigestAgreement {
  const merge = (pick: (a: DigestAgreement) => boolean | null): boolean | null => {
    const values = agreements.map(pick).filter((v): v is boolean => v !== null);
    if (values.length === 0) return null;
    return values.every(Boolean);
  };
  return {
    registryDigest: merge((a) => a.registryDigest),
    locationDigest: merge((a) => a.locationDigest),
    reference: merge((a) => a.reference),
  };
}

function latest(group: Group): RecordedPush {
  return group.pushes[group.pushes.length - 1]!;
}

function lastNonNull<T>(values: readonly (T | null)[]): T | null {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i]!;
  return null;
}

function tagKey(where: { registry: string; repository: string }, tag: string): string {
  return `${where.registry}|${where.repository}|${tag}`;
}
