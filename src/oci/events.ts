import type { ManifestKind, ManifestUnparsedReason, ParsedManifest } from './manifest.js';

/**
 * What the interpreter observed, as plain JSON values: events are journaled as they are,
 * so nothing here may hold a Buffer, a Hash or a class instance.
 *
 * `registry` is always the authority the client addressed (`host:port`), the registry's
 * identity; display forms are made later, in views.
 */

interface EventBase {
  /** The CompletedExchange that produced this event. */
  readonly exchangeId: string;
  /** Epoch milliseconds at which that exchange finished. */
  readonly at: number;
}

interface RepositoryEventBase extends EventBase {
  readonly registry: string;
  readonly repository: string;
}

/** A manifest reference as JSON: the tag or the digest string. */
export type ReferenceValue =
  | { readonly kind: 'tag'; readonly tag: string }
  | { readonly kind: 'digest'; readonly digest: string };

/**
 * `verified`: the proxy's own digest equals the claimed one. `mismatch`: it does not.
 * `unverifiable`: the proxy could not compute it (bytes it did not see, a lost hash state).
 */
export type BlobVerification = 'verified' | 'mismatch' | 'unverifiable';

/** The registry acknowledged (2xx) the end of an upload: a closing `PUT ?digest=` or a monolithic `POST ?digest=`. */
export interface BlobUploadedEvent extends RepositoryEventBase {
  readonly type: 'blobUploaded';
  /** The digest the client claimed and the registry stored the blob under. */
  readonly digest: string;
  /** sha256 the proxy computed over every accepted byte of the session; null when unverifiable. */
  readonly computedDigest: string | null;
  readonly verification: BlobVerification;
  /** Why it is unverifiable (`hash_unavailable`, `range_disagrees`, `session_unknown`, `algorithm_unsupported`). */
  readonly unverifiableReason: string | null;
  /** Bytes accepted by the registry for this blob, when the proxy saw them all. */
  readonly size: number | null;
  readonly method: 'chunked' | 'monolithic';
  readonly uploadId: string | null;
}

/** `POST …/uploads/?mount=<d>&from=<repo>` answered 201: the registry linked an existing blob. */
export interface BlobMountedEvent extends RepositoryEventBase {
  readonly type: 'blobMounted';
  readonly digest: string;
  readonly from: string | null;
}

/** `HEAD /v2/<repo>/blobs/<d>` answered 200: the blob was already there. */
export interface BlobPresentEvent extends RepositoryEventBase {
  readonly type: 'blobPresent';
  readonly digest: string;
}

/** Whether each digest the registry reported agrees with the proxy's; null when the registry said nothing. */
export interface DigestAgreement {
  readonly registryDigest: boolean | null;
  readonly locationDigest: boolean | null;
  readonly reference: boolean | null;
}

export interface Unparsed {
  readonly reason: ManifestUnparsedReason;
  readonly detail: string;
}

/** A manifest PUT the registry acknowledged with a 2xx. */
export interface ManifestPushedEvent extends RepositoryEventBase {
  readonly type: 'manifestPushed';
  readonly status: number;
  readonly reference: ReferenceValue;
  /** sha256 of the exact request body bytes: the proxy's digest, the one that counts. */
  readonly digest: string;
  readonly size: number;
  /** `Docker-Content-Digest` of the response. */
  readonly registryDigest: string | null;
  /** Last segment of the response `Location`, when it is a digest. */
  readonly locationDigest: string | null;
  readonly agreement: DigestAgreement;
  /** The parsed media type, else the request Content-Type. */
  readonly mediaType: string | null;
  readonly contentType: string | null;
  /** false when Content-Type and the body's `mediaType` are both specific and differ. */
  readonly mediaTypeConsistent: boolean;
  /** Known even when unparsed, from the media type. */
  readonly kind: ManifestKind;
  readonly manifest: ParsedManifest | null;
  readonly unparsed: Unparsed | null;
  /** `OCI-Subject` of the response (OCI 1.1 registries that index referrers). */
  readonly ociSubject: string | null;
}

/** `HEAD /v2/<repo>/manifests/<ref>` answered 200: clients such as crane then skip the PUT. */
export interface ManifestPresentEvent extends RepositoryEventBase {
  readonly type: 'manifestPresent';
  readonly reference: ReferenceValue;
  readonly registryDigest: string | null;
}

/** `verified`: matched the digest asked for; `mismatch`: did not; `unchecked`: a tag with nothing to check against. */
export type PullVerification = 'verified' | 'mismatch' | 'unchecked';

export interface ManifestPulledEvent extends RepositoryEventBase {
  readonly type: 'manifestPulled';
  readonly reference: ReferenceValue;
  /** sha256 of the response body: what the client actually received. */
  readonly digest: string;
  readonly size: number;
  readonly registryDigest: string | null;
  readonly verification: PullVerification;
  readonly checkedAgainst: 'reference' | 'docker-content-digest' | null;
  readonly mediaType: string | null;
  readonly kind: ManifestKind;
  readonly manifest: ParsedManifest | null;
  readonly unparsed: Unparsed | null;
  /** Host the body finally came from, when the registry redirected. */
  readonly redirectedTo: string | null;
}

export interface BlobPulledEvent extends RepositoryEventBase {
  readonly type: 'blobPulled';
  /** The digest asked for. */
  readonly digest: string;
  /** sha256 of the body received; null when it was part of the blob only (a ranged read). */
  readonly computedDigest: string | null;
  /** Bytes received. */
  readonly size: number;
  readonly verification: BlobVerification;
  readonly redirectedTo: string | null;
  /**
   * The `Content-Range` of a `206` answer (`unknown` when the registry sent none); null for a
   * `200`. Absent in journals written before ranged reads were recorded. A ranged read that
   * did not span the whole blob is `unverifiable` with a null `computedDigest`.
   */
  readonly contentRange?: string | null;
}

export type MismatchContext = 'blob-upload' | 'manifest-push' | 'manifest-pull' | 'blob-pull';
export type MismatchSource = 'claimed-digest' | 'docker-content-digest' | 'location' | 'reference';

/** The proxy's digest disagrees with one the client or registry stated. Never trusted, always recorded. */
export interface DigestMismatchEvent extends RepositoryEventBase {
  readonly type: 'digestMismatch';
  readonly context: MismatchContext;
  readonly source: MismatchSource;
  readonly expected: string;
  /** The proxy's own digest. */
  readonly observed: string;
}

/** Any non-OCI exchange that moved a body: URL (secrets removed), method, status, size, sha256. */
export interface GenericArtifactEvent extends EventBase {
  readonly type: 'artifactDownloaded' | 'artifactUploaded';
  readonly url: string;
  readonly method: string;
  readonly status: number;
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string | null;
}

export interface ManifestDeletedEvent extends RepositoryEventBase {
  readonly type: 'manifestDeleted';
  readonly reference: ReferenceValue;
}

export interface BlobDeletedEvent extends RepositoryEventBase {
  readonly type: 'blobDeleted';
  readonly digest: string;
}

/** Something odd enough to keep, not trustworthy enough to become a fact. */
export interface OciAnomalyEvent extends EventBase {
  readonly type: 'ociAnomaly';
  readonly code: AnomalyCode;
  readonly registry: string;
  readonly repository: string | null;
  readonly detail: string;
  /** `push_outcome_unknown`: the proxy's digest of the manifest that went upstream. */
  readonly digest?: string;
  /** `push_outcome_unknown`: the tag or digest it was pushed under. */
  readonly reference?: ReferenceValue;
}

export type AnomalyCode =
  | 'upload_location_missing'
  | 'upload_session_unknown'
  | 'upload_range_disagrees'
  | 'invalid_request_acknowledged'
  /**
   * A manifest PUT went upstream whole and no trustworthy answer came back (the upstream
   * failed or was silent, or the proxy stopped first): the registry may hold it. Never a push.
   */
  | 'push_outcome_unknown'
  /** A manifest the proxy digested but could not parse: the capture budget was spent (no children, no blobs). */
  | 'manifest_not_inspected'
  /** A manifest GET answered 206 with part of the manifest: read, but no digest can be computed. */
  | 'manifest_read_partial';

/** A write the push policy (`--push-allow`) refused: the proxy answered 403 and the registry never saw it. */
export interface PushRefusedEvent extends EventBase {
  readonly type: 'pushRefused';
  readonly registry: string;
  /** null when the request named no repository the proxy could read. */
  readonly repository: string | null;
  readonly method: string;
  /** The route kind (`upload-start`, `manifest-put`, …, or `invalid`). */
  readonly route: string;
  /** The message the client was given (names the rules). */
  readonly reason: string;
}

export type OciEvent =
  | PushRefusedEvent
  | BlobUploadedEvent
  | BlobMountedEvent
  | BlobPresentEvent
  | ManifestPushedEvent
  | ManifestPresentEvent
  | ManifestPulledEvent
  | BlobPulledEvent
  | DigestMismatchEvent
  | GenericArtifactEvent
  | ManifestDeletedEvent
  | BlobDeletedEvent
  | OciAnomalyEvent;
