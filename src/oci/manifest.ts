import { ProvenanceProxyError } from '../errors.js';
import { tryParseDigest } from './digest.js';

/**
 * Manifest bodies → plain, JSON-serialisable values. Never throws: whatever a client
 * sends, the caller gets either a parsed manifest or a reason it could not be parsed.
 */

export const MEDIA_TYPES = Object.freeze({
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  /** Withdrawn before OCI 1.1 final, but oras 0.16–1.0 and some registries still use it. */
  ociArtifactManifest: 'application/vnd.oci.artifact.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
});

type ManifestFormat =
  | 'oci-manifest'
  | 'oci-index'
  | 'oci-artifact-manifest'
  | 'docker-manifest'
  | 'docker-manifest-list';

const FORMAT_BY_MEDIA_TYPE: ReadonlyMap<string, ManifestFormat> = new Map([
  [MEDIA_TYPES.ociManifest, 'oci-manifest'],
  [MEDIA_TYPES.ociIndex, 'oci-index'],
  [MEDIA_TYPES.ociArtifactManifest, 'oci-artifact-manifest'],
  [MEDIA_TYPES.dockerManifest, 'docker-manifest'],
  [MEDIA_TYPES.dockerManifestList, 'docker-manifest-list'],
]);
const UNSUPPORTED_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.dockerSchema1,
  MEDIA_TYPES.dockerSchema1Signed,
]);
const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociConfig, MEDIA_TYPES.dockerConfig]);
/** Content-Types that say nothing about which manifest this is. */
const GENERIC_CONTENT_TYPES: ReadonlySet<string> = new Set([
  'application/json',
  'application/octet-stream',
  'text/plain',
]);

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly platform?: Platform;
}

export type ManifestKind = 'image' | 'index' | 'artifact';

export interface ParsedManifest {
  readonly format: ManifestFormat;
  /** The media type the manifest is, as decided from Content-Type and body together. */
  readonly mediaType: string;
  readonly kind: ManifestKind;
  readonly artifactType: string | null;
  readonly config: Descriptor | null;
  /** `layers` of an image manifest, `blobs` of an OCI artifact manifest. */
  readonly layers: readonly Descriptor[];
  /** Children of an index or manifest list. */
  readonly manifests: readonly Descriptor[];
  readonly subject: Descriptor | null;
  readonly annotations: Readonly<Record<string, string>>;
}

export type ManifestUnparsedReason =
  | 'over_capture_limit'
  | 'not_captured'
  | 'invalid_json'
  | 'not_an_object'
  | 'unknown_media_type'
  | 'unsupported_media_type'
  | 'invalid_structure'
  /** The global budget of captured bytes in flight was spent: relayed and hashed, not kept. */
  | 'capture_budget_exceeded';

export interface MediaTypeCheck {
  /** Content-Type without parameters, lowercased; null when absent. */
  readonly contentType: string | null;
  /** The body's own `mediaType`, null when the body has none (legal) or is unreadable. */
  readonly bodyMediaType: string | null;
  /** false only when both are present, specific, and differ. */
  readonly consistent: boolean;
}

export type ManifestParseResult =
  | { readonly ok: true; readonly manifest: ParsedManifest; readonly mediaTypes: MediaTypeCheck }
  | {
      readonly ok: false;
      readonly reason: ManifestUnparsedReason;
      readonly detail: string;
      readonly mediaTypes: MediaTypeCheck;
    };

/** Lowercased media type without parameters (`; charset=…`), or null. */
export function normaliseContentType(value: string | readonly string[] | null | undefined): string | null {
  const first = Array.isArray(value) ? value[0] : value;
  if (typeof first !== 'string') return null;
  const bare = first.split(';')[0]!.trim().toLowerCase();
  return bare.length > 0 ? bare : null;
}

export function isIndexMediaType(mediaType: string | null): boolean {
  return mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerManifestList;
}

export function parseManifest(
  body: Buffer,
  contentTypeHeader: string | readonly string[] | null | undefined,
): ManifestParseResult {
  const contentType = normaliseContentType(contentTypeHeader);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return fail('invalid_json', (error as Error).message, {
      contentType,
      bodyMediaType: null,
      consistent: true,
    });
  }
  if (!isRecord(json)) {
    return fail('not_an_object', 'a manifest is a JSON object', {
      contentType,
      bodyMediaType: null,
      consistent: true,
    });
  }
  const bodyMediaType = typeof json['mediaType'] === 'string' ? json['mediaType'] : null;
  const specificContentType =
    contentType !== null && !GENERIC_CONTENT_TYPES.has(contentType) ? contentType : null;
  const mediaTypes: MediaTypeCheck = {
    contentType,
    bodyMediaType,
    consistent:
      specificContentType === null || bodyMediaType === null || specificContentType === bodyMediaType,
  };
  // The body speaks for itself when it says what it is; the header is what the registry stored it as.
  const declared = bodyMediaType ?? specificContentType ?? mediaTypeFromShape(json);
  if (declared === null)
    return fail('unknown_media_type', 'no media type in header or body, shape unknown', mediaTypes);
  if (UNSUPPORTED_MEDIA_TYPES.has(declared)) return fail('unsupported_media_type', declared, mediaTypes);
  const format = FORMAT_BY_MEDIA_TYPE.get(declared);
  if (format === undefined) return fail('unknown_media_type', declared, mediaTypes);
  try {
    return { ok: true, manifest: buildManifest(format, declared, json), mediaTypes };
  } catch (error) {
    if (error instanceof StructureError) return fail('invalid_structure', error.message, mediaTypes);
    throw error;
  }
}

/** A body with no mediaType and a generic Content-Type: the OCI spec lets registries decide by shape. */
function mediaTypeFromShape(json: Record<string, unknown>): string | null {
  if (Array.isArray(json['manifests'])) return MEDIA_TYPES.ociIndex;
  if (isRecord(json['config']) && Array.isArray(json['layers'])) return MEDIA_TYPES.ociManifest;
  return null;
}

function buildManifest(
  format: ManifestFormat,
  mediaType: string,
  json: Record<string, unknown>,
): ParsedManifest {
  if (json['schemaVersion'] !== 2) throw new StructureError('schemaVersion must be 2');
  const artifactType = optionalString(json, 'artifactType');
  const subject = json['subject'] === undefined ? null : descriptor(json['subject'], 'subject');
  const annotations = stringMap(json['annotations'], 'annotations');
  if (format === 'oci-index' || format === 'docker-manifest-list') {
    const manifests = descriptorList(json['manifests'], 'manifests', true);
    return {
      format,
      mediaType,
      // An index stays an index even with an artifactType: clients walk it as one.
      kind: 'index',
      artifactType,
      config: null,
      layers: [],
      manifests,
      subject,
      annotations,
    };
  }
  if (format === 'oci-artifact-manifest') {
    const blobs = json['blobs'] === undefined ? [] : descriptorList(json['blobs'], 'blobs', false);
    return {
      format,
      mediaType,
      kind: 'artifact',
      artifactType,
      config: null,
      layers: blobs,
      manifests: [],
      subject,
      annotations,
    };
  }
  const config = descriptor(json['config'], 'config');
  const layers = descriptorList(json['layers'], 'layers', false);
  const isArtifact = artifactType !== null || !IMAGE_CONFIG_TYPES.has(config.mediaType);
  return {
    format,
    mediaType,
    kind: isArtifact ? 'artifact' : 'image',
    artifactType: artifactType ?? (isArtifact ? config.mediaType : null),
    config,
    layers,
    manifests: [],
    subject,
    annotations,
  };
}

function descriptorList(value: unknown, field: string, withPlatform: boolean): Descriptor[] {
  if (!Array.isArray(value)) throw new StructureError(`${field} must be an array`);
  return value.map((item, i) => descriptor(item, `${field}[${i}]`, withPlatform));
}

function descriptor(value: unknown, field: string, withPlatform = false): Descriptor {
  if (!isRecord(value)) throw new StructureError(`${field} must be an object`);
  const mediaType = value['mediaType'];
  if (typeof mediaType !== 'string' || mediaType.length === 0)
    throw new StructureError(`${field}.mediaType is required`);
  const digest = tryParseDigest(typeof value['digest'] === 'string' ? value['digest'] : null);
  if (digest === null) throw new StructureError(`${field}.digest is not a valid digest`);
  const size = value['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new StructureError(`${field}.size must be a non-negative integer`);
  }
  const result: { -readonly [K in keyof Descriptor]: Descriptor[K] } = {
    mediaType,
    digest: digest.value,
    size,
  };
  const artifactType = optionalString(value, 'artifactType');
  if (artifactType !== null) result.artifactType = artifactType;
  if (withPlatform && value['platform'] !== undefined)
    result.platform = platform(value['platform'], `${field}.platform`);
  return result;
}

function platform(value: unknown, field: string): Platform {
  if (!isRecord(value)) throw new StructureError(`${field} must be an object`);
  const architecture = value['architecture'];
  const os = value['os'];
  if (typeof architecture !== 'string' || typeof os !== 'string') {
    throw new StructureError(`${field} needs architecture and os`);
  }
  const result: { -readonly [K in keyof Platform]: Platform[K] } = { architecture, os };
  const variant = optionalString(value, 'variant');
  if (variant !== null) result.variant = variant;
  const osVersion = optionalString(value, 'os.version');
  if (osVersion !== null) result['os.version'] = osVersion;
  const features = value['os.features'];
  if (Array.isArray(features) && features.every((f) => typeof f === 'string'))
    result['os.features'] = features;
  return result;
}

function optionalString(record: Record<string, unknown>, key: string): string | null {
  const value = record[key];
  if (value === undefined) return null;
  if (typeof value !== 'string') throw new StructureError(`${key} must be a string`);
  return value;
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new StructureError(`${field} must be an object`);
  const entries = Object.entries(value);
  for (const [key, item] of entries) {
    if (typeof item !== 'string') throw new StructureError(`${field}.${key} must be a string`);
  }
  // fromEntries defines own properties, so a `__proto__` key stays data and never becomes a prototype.
  return Object.fromEntries(entries) as Record<string, string>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(
  reason: ManifestUnparsedReason,
  detail: string,
  mediaTypes: MediaTypeCheck,
): ManifestParseResult {
  return { ok: false, reason, detail: detail.slice(0, 300), mediaTypes };
}

/** Internal: unwinds the descriptor walk; never escapes parseManifest. */
class StructureError extends ProvenanceProxyError {
  constructor(message: string) {
    super('ERR_OCI_MANIFEST', message);
  }
}
