import { createHash } from 'node:crypto';
import { ProvenanceProxyError } from '../errors.js';
import type { InTotoStatement, ResourceDescriptor } from '../provenance/statement-types.js';
import { decodeBase64Strict } from '../signing/base64.js';
import type { DsseEnvelope } from '../signing/envelope.js';
import type {
  Envelope,
  GrafeasResourceDescriptor,
  InTotoSlsaProvenanceV1,
  Note,
  Occurrence,
} from './resources.js';
import { normalizeTimestamp } from './timestamp.js';

/** A statement or envelope that cannot be written as Grafeas resources; trying again will not help. */
export class GrafeasMappingError extends ProvenanceProxyError {
  constructor(message: string) {
    super('ERR_GRAFEAS_MAPPING', message);
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** `registry[:port]/repository`, no scheme, tag or digest. */
const SUBJECT_NAME =
  /^[A-Za-z0-9.-]+(?::\d{1,5})?\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const NOTE_ID_SLUG_MAX = 80;

/**
 * The note id for a builder: readable (a slug of the id) and unique (a hash of the exact id),
 * within the 100 characters note ids may have. The same builder id always gives the same note.
 */
export function noteIdForBuilder(builderId: string): string {
  const slug = builderId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, NOTE_ID_SLUG_MAX)
    .replace(/-+$/, '');
  const hash = createHash('sha256').update(builderId, 'utf8').digest('hex').slice(0, 12);
  return `${slug === '' ? 'builder' : slug}-${hash}`;
}

/** BuildNote.builderVersion: the builder's version map (`name=version`, sorted) or, without one, its id. */
export function builderVersionOf(builder: { id: string; version?: Record<string, string> }): string {
  const entries = Object.entries(builder.version ?? {}).filter(([, v]) => typeof v === 'string' && v !== '');
  if (entries.length === 0) return builder.id;
  return entries
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function builderOf(statement: InTotoStatement): { id: string; version?: Record<string, string> } {
  const builder = statement.predicate?.runDetails?.builder;
  if (typeof builder?.id !== 'string' || builder.id === '') {
    throw new GrafeasMappingError('the statement has no predicate.runDetails.builder.id');
  }
  return builder;
}

/** The BUILD note that all occurrences of one builder point at. */
export function buildNoteFor(builder: { id: string; version?: Record<string, string> }): Note {
  return {
    kind: 'BUILD',
    shortDescription: 'Container images built behind provenance-proxy',
    longDescription: `SLSA v1 provenance recorded by builder ${builder.id}: the proxy observed the build's registry traffic and signed what the registries acknowledged.`,
    build: { builderVersion: builderVersionOf(builder) },
  };
}

/** `https://<registry>/<repository>@sha256:<hex>`, the resource URI Grafeas and Container Analysis use for images. */
export function resourceUriOf(subject: ResourceDescriptor): string {
  const name = subject.name ?? '';
  const hex = subject.digest?.sha256 ?? '';
  if (!SUBJECT_NAME.test(name)) {
    throw new GrafeasMappingError(`subject name ${JSON.stringify(name)} is not registry/repository`);
  }
  if (!SHA256_HEX.test(hex)) {
    throw new GrafeasMappingError(`subject ${name} has no sha256 digest of 64 lower-case hex digits`);
  }
  return `https://${name}@sha256:${hex}`;
}

/** The statement as grafeas.v1.InTotoSlsaProvenanceV1. Subjects keep only name and digest: the proto has nothing else. */
export function inTotoSlsaProvenanceV1Of(statement: InTotoStatement): InTotoSlsaProvenanceV1 {
  const { buildDefinition, runDetails } = statement.predicate;
  const builder = builderOf(statement);
  const metadata = runDetails.metadata;
  return {
    _type: statement._type,
    subject: statement.subject.map((s) => omitEmpty({ name: s.name, digest: stringMap(s.digest) })),
    predicateType: statement.predicateType,
    predicate: {
      buildDefinition: omitEmpty({
        buildType: buildDefinition.buildType,
        externalParameters: buildDefinition.externalParameters,
        internalParameters: buildDefinition.internalParameters,
        resolvedDependencies: buildDefinition.resolvedDependencies?.map(descriptor),
      }),
      runDetails: omitEmpty({
        builder: omitEmpty({
          id: builder.id,
          version: stringMap(builder.version),
          builderDependencies: runDetails.builder.builderDependencies?.map(descriptor),
        }),
        metadata:
          metadata === undefined
            ? undefined
            : omitEmpty({
                invocationId: metadata.invocationId,
                startedOn: timestamp(metadata.startedOn, 'startedOn'),
                finishedOn: timestamp(metadata.finishedOn, 'finishedOn'),
              }),
        byproducts: runDetails.byproducts?.map(descriptor),
      }),
    },
  };
}

/** The DSSE envelope as grafeas.v1.Envelope: same bytes, standard base64, signature and keyid side by side. */
export function grafeasEnvelopeOf(envelope: DsseEnvelope): Envelope {
  return {
    payload: canonicalBase64(envelope.payload, 'envelope.payload'),
    payloadType: envelope.payloadType,
    signatures: envelope.signatures.map((s, i) =>
      omitEmpty({ sig: canonicalBase64(s.sig, `envelope.signatures[${i}].sig`), keyid: s.keyid }),
    ),
  };
}

/** One BUILD occurrence for one subject of the statement. */
export function buildOccurrenceFor(
  resourceUri: string,
  noteName: string,
  provenance: InTotoSlsaProvenanceV1,
  envelope: Envelope,
): Occurrence {
  return { resourceUri, noteName, kind: 'BUILD', build: { inTotoSlsaProvenanceV1: provenance }, envelope };
}

function descriptor(d: ResourceDescriptor): GrafeasResourceDescriptor {
  return omitEmpty({
    name: d.name,
    uri: d.uri,
    digest: stringMap(d.digest),
    mediaType: d.mediaType,
    annotations: d.annotations,
  });
}

function stringMap(map: Record<string, string> | undefined): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  const entries = Object.entries(map).filter(([, v]) => typeof v === 'string');
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

function timestamp(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  const normalized = normalizeTimestamp(value);
  if (normalized === undefined)
    throw new GrafeasMappingError(`runDetails.metadata.${field} is not an RFC 3339 timestamp`);
  return normalized;
}

function canonicalBase64(text: string, field: string): string {
  try {
    return decodeBase64Strict(text, field).toString('base64');
  } catch {
    throw new GrafeasMappingError(`${field} is not base64`);
  }
}

/** Drops undefined and empty-string members so requests carry only what is set. */
function omitEmpty<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as T;
}
