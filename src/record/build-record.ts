import type {
  BlobDeletedEvent,
  BlobPulledEvent,
  BlobVerification,
  DigestMismatchEvent,
  GenericArtifactEvent,
  ManifestDeletedEvent,
  ManifestPresentEvent,
  OciAnomalyEvent,
  OciEvent,
  PushRefusedEvent,
} from '../oci/events.js';
import {
  type RecordedManifestPull,
  type RecordedManifestPush,
  recordedPull,
  recordedPush,
} from './manifest-facts.js';

/**
 * The build record: every OCI event of the build, reduced to the facts the views need.
 *
 * Events are applied in the order they happened (journal order). The one judgement made at
 * event time is the blob classification of a manifest push: it depends on what had happened
 * *before* the PUT. Everything that depends on later events (which manifests are index children,
 * which are attachments, which tags moved) is resolved when a view is built.
 *
 * Mutable on purpose (appending to arrays, not copying them per event); views are pure functions of it.
 */

/** How a blob referenced by a pushed manifest came to be in the repository. */
export type BlobDisposition = 'uploaded' | 'mounted' | 'present' | 'unaccounted';

export interface BlobClassification {
  readonly digest: string;
  readonly disposition: BlobDisposition;
  /** Mounted blobs: the repository named in `from=` (null when the registry chose). */
  readonly mountedFrom?: string | null;
  /** An upload of this digest the proxy could not verify, or that did not match. */
  readonly uploadProblem?: Exclude<BlobVerification, 'verified'>;
}

export interface RecordedPush {
  /** Position of the event in the record, for "what happened after" questions. */
  readonly seq: number;
  /** The push, its manifest reduced to the facts the views need (manifest-facts.ts). */
  readonly event: RecordedManifestPush;
  /** Config and layers (or artifact blobs) of the manifest, classified at PUT time. Empty for indexes. */
  readonly blobs: readonly BlobClassification[];
}

export interface RecordedDeletion {
  readonly seq: number;
  readonly event: ManifestDeletedEvent | BlobDeletedEvent;
}

interface BlobFacts {
  verifiedUpload: boolean;
  uploadProblem: Exclude<BlobVerification, 'verified'> | null;
  /** undefined: never mounted; null: mounted without a named source. */
  mountedFrom: string | null | undefined;
  present: boolean;
}

export class BuildRecord {
  private eventCount = 0;
  private readonly blobFacts = new Map<string, BlobFacts>();
  private readonly pushList: RecordedPush[] = [];
  private readonly pullList: RecordedManifestPull[] = [];
  private readonly blobPullList: BlobPulledEvent[] = [];
  private readonly downloadList: CountedArtifact[] = [];
  private readonly uploadList: CountedArtifact[] = [];
  /** Keys of the repeatable facts already held (see firstTime). */
  private readonly factKeys = new Set<string>();
  private readonly artifactIndex = new Map<string, CountedArtifact>();
  private readonly mismatchList: DigestMismatchEvent[] = [];
  private readonly presentManifestList: ManifestPresentEvent[] = [];
  private readonly deletionList: RecordedDeletion[] = [];
  private readonly anomalyList: OciAnomalyEvent[] = [];
  private readonly refusalList: PushRefusedEvent[] = [];

  static from(events: Iterable<OciEvent>): BuildRecord {
    const record = new BuildRecord();
    for (const event of events) record.apply(event);
    return record;
  }

  apply(event: OciEvent): void {
    const seq = this.eventCount++;
    switch (event.type) {
      case 'blobUploaded': {
        const facts = this.facts(event.registry, event.repository, event.digest);
        if (event.verification === 'verified') facts.verifiedUpload = true;
        else facts.uploadProblem = worseProblem(facts.uploadProblem, event.verification);
        return;
      }
      case 'blobMounted':
        this.facts(event.registry, event.repository, event.digest).mountedFrom = event.from;
        return;
      case 'blobPresent':
        this.facts(event.registry, event.repository, event.digest).present = true;
        return;
      case 'manifestPushed': {
        const push = recordedPush(event);
        this.pushList.push({ seq, event: push, blobs: this.classifyBlobs(push) });
        return;
      }
      case 'manifestPresent':
        if (this.firstTime(event)) this.presentManifestList.push(event);
        return;
      case 'manifestPulled': {
        const pull = recordedPull(event);
        if (this.firstTime({ ...pull, manifest: null })) this.pullList.push(pull);
        return;
      }
      case 'blobPulled':
        if (this.firstTime(event)) this.blobPullList.push(event);
        return;
      case 'digestMismatch':
        if (this.firstTime(event)) this.mismatchList.push(event);
        return;
      case 'artifactDownloaded':
        this.countArtifact(this.downloadList, event);
        return;
      case 'artifactUploaded':
        this.countArtifact(this.uploadList, event);
        return;
      case 'manifestDeleted':
      case 'blobDeleted':
        this.deletionList.push({ seq, event });
        return;
      case 'ociAnomaly':
        if (this.firstTime(event)) this.anomalyList.push(event);
        return;
      case 'pushRefused':
        if (this.firstTime(event)) this.refusalList.push(event);
        return;
    }
  }

  applyAll(events: Iterable<OciEvent>): void {
    for (const event of events) this.apply(event);
  }

  get size(): number {
    return this.eventCount;
  }
  get pushes(): readonly RecordedPush[] {
    return this.pushList;
  }
  get manifestPulls(): readonly RecordedManifestPull[] {
    return this.pullList;
  }
  get blobPulls(): readonly BlobPulledEvent[] {
    return this.blobPullList;
  }
  /** Each URL and content once, with how many times the build moved it. */
  get downloads(): readonly CountedArtifact[] {
    return this.downloadList;
  }
  get uploads(): readonly CountedArtifact[] {
    return this.uploadList;
  }
  get mismatches(): readonly DigestMismatchEvent[] {
    return this.mismatchList;
  }
  get manifestsPresent(): readonly ManifestPresentEvent[] {
    return this.presentManifestList;
  }
  get deletions(): readonly RecordedDeletion[] {
    return this.deletionList;
  }
  get anomalies(): readonly OciAnomalyEvent[] {
    return this.anomalyList;
  }
  /** Writes the push policy refused (each distinct one once). */
  get pushRefusals(): readonly PushRefusedEvent[] {
    return this.refusalList;
  }

  /** What the record knows, now, about one blob in one repository. */
  classifyBlob(registry: string, repository: string, digest: string): BlobClassification {
    const facts = this.blobFacts.get(blobKey(registry, repository, digest));
    if (facts === undefined) return { digest, disposition: 'unaccounted' };
    const problem = facts.uploadProblem === null ? {} : { uploadProblem: facts.uploadProblem };
    // A verified upload is the strongest evidence; a mount or a HEAD only says the registry has it.
    if (facts.verifiedUpload) return { digest, disposition: 'uploaded', ...problem };
    if (facts.mountedFrom !== undefined)
      return { digest, disposition: 'mounted', mountedFrom: facts.mountedFrom, ...problem };
    if (facts.present) return { digest, disposition: 'present', ...problem };
    return { digest, disposition: 'unaccounted', ...problem };
  }

  private classifyBlobs(push: RecordedManifestPush): BlobClassification[] {
    if (push.manifest === null) return [];
    return push.manifest.blobs.map((digest) => this.classifyBlob(push.registry, push.repository, digest));
  }

  /**
   * Pulls, HEADs, downloads, mismatches and anomalies repeat: a build (or a loop in it) may
   * fetch the same thing a million times. The record keeps each distinct fact once (its first
   * occurrence), so its size follows what the build touched, not how often; the journal keeps
   * every occurrence.
   */
  private firstTime(event: OciEvent): boolean {
    const { exchangeId: _exchange, at: _at, ...fact } = event;
    const key = JSON.stringify(fact);
    if (this.factKeys.has(key)) return false;
    this.factKeys.add(key);
    return true;
  }

  private countArtifact(list: CountedArtifact[], event: GenericArtifactEvent): void {
    const key = `${event.type} ${event.url} ${event.sha256} ${event.method} ${event.status}`;
    const known = this.artifactIndex.get(key);
    if (known !== undefined) {
      known.count++;
      return;
    }
    const counted: CountedArtifact = { event, count: 1 };
    this.artifactIndex.set(key, counted);
    list.push(counted);
  }

  private facts(registry: string, repository: string, digest: string): BlobFacts {
    const key = blobKey(registry, repository, digest);
    let facts = this.blobFacts.get(key);
    if (facts === undefined) {
      facts = { verifiedUpload: false, uploadProblem: null, mountedFrom: undefined, present: false };
      this.blobFacts.set(key, facts);
    }
    return facts;
  }
}

/** A generic artifact, once per URL, content, method and status, with how often it moved. */
export interface CountedArtifact {
  readonly event: GenericArtifactEvent;
  count: number;
}

export function blobKey(registry: string, repository: string, digest: string): string {
  return `${registry}|${repository}|${digest}`;
}

/** Identity of an image in a build: registry (authority) + repository + manifest digest. */
export function imageKey(registry: string, repository: string, digest: string): string {
  return `${registry}|${repository}|${digest}`;
}

function worseProblem(
  current: Exclude<BlobVerification, 'verified'> | null,
  next: Exclude<BlobVerification, 'verified'>,
): Exclude<BlobVerification, 'verified'> {
  return current === 'mismatch' || next === 'mismatch' ? 'mismatch' : 'unverifiable';
}
