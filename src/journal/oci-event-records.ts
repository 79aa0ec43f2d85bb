import type {
  AnomalyCode,
  BlobVerification,
  MismatchContext,
  MismatchSource,
  OciEvent,
  OciEventType,
  PullVerification,
} from '../oci/events.js';
import type { ManifestKind, ManifestUnparsedReason } from '../oci/manifest.js';
import {
  expectShape,
  type FieldRule,
  nested,
  oneOf,
  type RecordShape,
  shapeProblem,
} from './record-shape.js';

/**
 * The shapes of the OCI interpreter's events (oci/events.ts) as journaled in `oci.<type>` lines.
 * Fields later versions of the proxy added are optional (`?`): journals written before them replay.
 */

const BLOB_VERIFICATION = oneOf<BlobVerification>({ verified: true, mismatch: true, unverifiable: true });
const PULL_VERIFICATION = oneOf<PullVerification>({ verified: true, mismatch: true, unchecked: true });
const MANIFEST_KIND = oneOf<ManifestKind>({ image: true, index: true, artifact: true });
const MISMATCH_CONTEXT = oneOf<MismatchContext>({
  'blob-upload': true,
  'manifest-push': true,
  'manifest-pull': true,
  'blob-pull': true,
});
const MISMATCH_SOURCE = oneOf<MismatchSource>({
  'claimed-digest': true,
  'docker-content-digest': true,
  location: true,
  reference: true,
});
const ANOMALY_CODE = oneOf<AnomalyCode>({
  upload_location_missing: true,
  upload_session_unknown: true,
  upload_range_disagrees: true,
  invalid_request_acknowledged: true,
  push_outcome_unknown: true,
  manifest_not_inspected: true,
  manifest_read_partial: true,
});
const UNPARSED_REASON = oneOf<ManifestUnparsedReason>({
  over_capture_limit: true,
  not_captured: true,
  invalid_json: true,
  not_an_object: true,
  unknown_media_type: true,
  unsupported_media_type: true,
  invalid_structure: true,
  capture_budget_exceeded: true,
});

function referenceProblem(value: unknown): string | null {
  return (
    shapeProblem(value, { kind: ['tag', 'digest'] }) ??
    shapeProblem(value, (value as { kind: string }).kind === 'tag' ? { tag: 'string' } : { digest: 'string' })
  );
}
const reference: FieldRule = referenceProblem;

const descriptors: FieldRule = (value) => {
  if (!Array.isArray(value)) return 'expected array';
  for (const [i, item] of value.entries()) {
    const problem = shapeProblem(item, { digest: 'string', size: 'number', mediaType: 'string' });
    if (problem !== null) return `[${i}].${problem}`;
  }
  return null;
};
const descriptor = nested({ digest: 'string', size: 'number', mediaType: 'string' }, true);

const manifest = nested(
  {
    format: 'string',
    mediaType: 'string',
    kind: MANIFEST_KIND,
    artifactType: 'string|null',
    config: descriptor,
    layers: descriptors,
    manifests: descriptors,
    subject: descriptor,
    annotations: 'object',
  },
  true,
);

const BASE: RecordShape = { exchangeId: 'string', at: 'number' };
const REPOSITORY: RecordShape = { ...BASE, registry: 'string', repository: 'string' };

const SHAPES: Readonly<Record<OciEventType, RecordShape>> = {
  blobUploaded: {
    ...REPOSITORY,
    digest: 'string',
    computedDigest: 'string|null',
    verification: BLOB_VERIFICATION,
    unverifiableReason: 'string|null',
    size: 'number|null',
    method: ['chunked', 'monolithic'],
    uploadId: 'string|null',
  },
  blobMounted: { ...REPOSITORY, digest: 'string', from: 'string|null' },
  blobPresent: { ...REPOSITORY, digest: 'string' },
  manifestPushed: {
    ...REPOSITORY,
    status: 'number',
    reference,
    digest: 'string',
    size: 'number',
    registryDigest: 'string|null',
    locationDigest: 'string|null',
    agreement: nested({
      registryDigest: 'boolean|null',
      locationDigest: 'boolean|null',
      reference: 'boolean|null',
    }),
    mediaType: 'string|null',
    contentType: 'string|null',
    mediaTypeConsistent: 'boolean',
    kind: MANIFEST_KIND,
    manifest,
    unparsed: nested({ reason: UNPARSED_REASON, detail: 'string' }, true),
    ociSubject: 'string|null',
  },
  manifestPresent: { ...REPOSITORY, reference, registryDigest: 'string|null' },
  manifestPulled: {
    ...REPOSITORY,
    reference,
    digest: 'string',
    size: 'number',
    registryDigest: 'string|null',
    verification: PULL_VERIFICATION,
    checkedAgainst: (value) =>
      value === null || value === 'reference' || value === 'docker-content-digest'
        ? null
        : `${JSON.stringify(value)} is not reference, docker-content-digest or null`,
    mediaType: 'string|null',
    kind: MANIFEST_KIND,
    manifest,
    unparsed: nested({ reason: UNPARSED_REASON, detail: 'string' }, true),
    redirectedTo: 'string|null',
  },
  blobPulled: {
    ...REPOSITORY,
    digest: 'string',
    computedDigest: 'string|null',
    size: 'number',
    verification: BLOB_VERIFICATION,
    redirectedTo: 'string|null',
    contentRange: 'string|null?',
  },
  digestMismatch: {
    ...REPOSITORY,
    context: MISMATCH_CONTEXT,
    source: MISMATCH_SOURCE,
    expected: 'string',
    observed: 'string',
  },
  artifactDownloaded: artifact(),
  artifactUploaded: artifact(),
  manifestDeleted: { ...REPOSITORY, reference },
  blobDeleted: { ...REPOSITORY, digest: 'string' },
  ociAnomaly: {
    ...BASE,
    code: ANOMALY_CODE,
    registry: 'string',
    repository: 'string|null',
    detail: 'string',
    digest: 'string?',
    reference: (value) => (value === undefined ? null : referenceProblem(value)),
  },
  pushRefused: {
    ...BASE,
    registry: 'string',
    repository: 'string|null',
    method: 'string',
    route: 'string',
    reason: 'string',
  },
};

function artifact(): RecordShape {
  return {
    ...BASE,
    url: 'string',
    method: 'string',
    status: 'number',
    size: 'number',
    sha256: 'string',
    contentType: 'string|null',
  };
}

/** The event types the journal knows, for the `oci.<type>` line kinds. */
export function isOciEventType(type: string): type is OciEventType {
  return Object.hasOwn(SHAPES, type);
}

/** Reads the data of an `oci.<type>` line: its `type` must be the one the kind names. */
export function decodeOciEvent(data: unknown, type: OciEventType): OciEvent {
  expectShape(data, { type: [type], ...SHAPES[type] });
  return data as OciEvent;
}
