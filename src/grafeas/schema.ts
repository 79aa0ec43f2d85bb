/**
 * The part of the Grafeas v1 message schema this project reads and writes, as data.
 *
 * Product code may not load the .proto files (protobufjs is a test-only dependency), so the
 * store validates requests against this table instead. test/grafeas/contract.test.ts holds the
 * table to the official protos: every message listed here must have exactly the proto's fields,
 * numbers, JSON names, types and cardinality. Fields the store does not accept are listed too,
 * marked `supported: false`, so the table stays a faithful copy and the store can say
 * "not supported" rather than "unknown field".
 */

export type ScalarKind = 'string' | 'bool' | 'int32' | 'int64' | 'bytes';

/** Well-known types with their own JSON form. */
export type WellKnownKind = 'timestamp' | 'struct' | 'value';

export interface FieldSpec {
  readonly id: number;
  /** The proto field name (snake_case); proto3 JSON parsers accept it besides `jsonName`. */
  readonly name: string;
  readonly jsonName: string;
  readonly kind: ScalarKind | WellKnownKind | 'enum' | 'message';
  /** Full name of the enum or message type, for `enum` and `message`. */
  readonly typeName?: string;
  readonly repeated?: boolean;
  /** `map<string, …>` fields: JSON objects whose values are of this field's kind. */
  readonly map?: boolean;
  readonly oneof?: string;
  /** false: a v1 field this store does not accept (answered with UNIMPLEMENTED). */
  readonly supported?: boolean;
}

export interface MessageSpec {
  readonly fullName: string;
  readonly fields: readonly FieldSpec[];
}

export interface EnumSpec {
  readonly fullName: string;
  readonly values: readonly string[];
}

export const NOTE_KIND = 'grafeas.v1.NoteKind';

export const NOTE_KINDS = [
  'NOTE_KIND_UNSPECIFIED',
  'VULNERABILITY',
  'BUILD',
  'IMAGE',
  'PACKAGE',
  'DEPLOYMENT',
  'DISCOVERY',
  'ATTESTATION',
  'UPGRADE',
  'COMPLIANCE',
  'DSSE_ATTESTATION',
  'VULNERABILITY_ASSESSMENT',
  'SBOM_REFERENCE',
  'SECRET',
] as const;

export type NoteKind = (typeof NOTE_KINDS)[number];

export const ENUMS: ReadonlyMap<string, EnumSpec> = new Map([
  [NOTE_KIND, { fullName: NOTE_KIND, values: NOTE_KINDS }],
]);

/** protoc's default JSON name: drop each underscore and upper-case the letter after it. */
export function protoJsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

type FieldExtras = Partial<
  Pick<FieldSpec, 'typeName' | 'repeated' | 'map' | 'oneof' | 'supported' | 'jsonName'>
>;

function field(id: number, name: string, kind: FieldSpec['kind'], extras: FieldExtras = {}): FieldSpec {
  return { id, name, jsonName: extras.jsonName ?? protoJsonName(name), kind, ...extras };
}

function message(name: string, id: number, typeName: string, extras: FieldExtras = {}): FieldSpec {
  return field(id, name, 'message', { typeName, ...extras });
}

/** A oneof member this store does not accept. */
function unsupported(name: string, id: number, typeName: string, oneof?: string): FieldSpec {
  return message(
    name,
    id,
    typeName,
    oneof === undefined ? { supported: false } : { supported: false, oneof },
  );
}

const V1 = 'grafeas.v1';
const SLSA_V1 = `${V1}.InTotoSlsaProvenanceV1`;

export const NOTE = `${V1}.Note`;
export const OCCURRENCE = `${V1}.Occurrence`;
export const BATCH_CREATE_NOTES_REQUEST = `${V1}.BatchCreateNotesRequest`;
export const BATCH_CREATE_OCCURRENCES_REQUEST = `${V1}.BatchCreateOccurrencesRequest`;

const MESSAGE_LIST: readonly MessageSpec[] = [
  {
    fullName: NOTE,
    fields: [
      field(1, 'name', 'string'),
      field(2, 'short_description', 'string'),
      field(3, 'long_description', 'string'),
      field(4, 'kind', 'enum', { typeName: NOTE_KIND }),
      message('related_url', 5, `${V1}.RelatedUrl`, { repeated: true }),
      field(6, 'expiration_time', 'timestamp'),
      field(7, 'create_time', 'timestamp'),
      field(8, 'update_time', 'timestamp'),
      field(9, 'related_note_names', 'string', { repeated: true }),
      unsupported('vulnerability', 10, `${V1}.VulnerabilityNote`, 'type'),
      message('build', 11, `${V1}.BuildNote`, { oneof: 'type' }),
      unsupported('image', 12, `${V1}.ImageNote`, 'type'),
      unsupported('package', 13, `${V1}.PackageNote`, 'type'),
      unsupported('deployment', 14, `${V1}.DeploymentNote`, 'type'),
      unsupported('discovery', 15, `${V1}.DiscoveryNote`, 'type'),
      unsupported('attestation', 16, `${V1}.AttestationNote`, 'type'),
      unsupported('upgrade', 17, `${V1}.UpgradeNote`, 'type'),
      unsupported('compliance', 18, `${V1}.ComplianceNote`, 'type'),
      unsupported('dsse_attestation', 19, `${V1}.DSSEAttestationNote`, 'type'),
      unsupported('vulnerability_assessment', 20, `${V1}.VulnerabilityAssessmentNote`, 'type'),
      unsupported('sbom_reference', 21, `${V1}.SBOMReferenceNote`, 'type'),
      unsupported('secret', 22, `${V1}.SecretNote`, 'type'),
    ],
  },
  { fullName: `${V1}.RelatedUrl`, fields: [field(1, 'url', 'string'), field(2, 'label', 'string')] },
  { fullName: `${V1}.BuildNote`, fields: [field(1, 'builder_version', 'string')] },
  {
    fullName: OCCURRENCE,
    fields: [
      field(1, 'name', 'string'),
      field(2, 'resource_uri', 'string'),
      field(3, 'note_name', 'string'),
      field(4, 'kind', 'enum', { typeName: NOTE_KIND }),
      field(5, 'remediation', 'string'),
      field(6, 'create_time', 'timestamp'),
      field(7, 'update_time', 'timestamp'),
      unsupported('vulnerability', 8, `${V1}.VulnerabilityOccurrence`, 'details'),
      message('build', 9, `${V1}.BuildOccurrence`, { oneof: 'details' }),
      unsupported('image', 10, `${V1}.ImageOccurrence`, 'details'),
      unsupported('package', 11, `${V1}.PackageOccurrence`, 'details'),
      unsupported('deployment', 12, `${V1}.DeploymentOccurrence`, 'details'),
      unsupported('discovery', 13, `${V1}.DiscoveryOccurrence`, 'details'),
      unsupported('attestation', 14, `${V1}.AttestationOccurrence`, 'details'),
      unsupported('upgrade', 15, `${V1}.UpgradeOccurrence`, 'details'),
      unsupported('compliance', 16, `${V1}.ComplianceOccurrence`, 'details'),
      unsupported('dsse_attestation', 17, `${V1}.DSSEAttestationOccurrence`, 'details'),
      message('envelope', 18, `${V1}.Envelope`),
      unsupported('sbom_reference', 19, `${V1}.SBOMReferenceOccurrence`, 'details'),
      unsupported('secret', 20, `${V1}.SecretOccurrence`, 'details'),
    ],
  },
  {
    fullName: `${V1}.BuildOccurrence`,
    fields: [
      unsupported('provenance', 1, `${V1}.BuildProvenance`),
      field(2, 'provenance_bytes', 'string'),
      unsupported('intoto_provenance', 3, `${V1}.InTotoProvenance`),
      unsupported('intoto_statement', 4, `${V1}.InTotoStatement`),
      message('in_toto_slsa_provenance_v1', 5, SLSA_V1),
    ],
  },
  {
    fullName: SLSA_V1,
    fields: [
      field(1, 'type', 'string', { jsonName: '_type' }),
      message('subject', 2, `${V1}.Subject`, { repeated: true }),
      field(3, 'predicate_type', 'string'),
      message('predicate', 4, `${SLSA_V1}.SlsaProvenanceV1`),
    ],
  },
  {
    fullName: `${V1}.Subject`,
    fields: [field(1, 'name', 'string'), field(2, 'digest', 'string', { map: true })],
  },
  {
    fullName: `${SLSA_V1}.SlsaProvenanceV1`,
    fields: [
      message('build_definition', 1, `${SLSA_V1}.BuildDefinition`),
      message('run_details', 2, `${SLSA_V1}.RunDetails`),
    ],
  },
  {
    fullName: `${SLSA_V1}.BuildDefinition`,
    fields: [
      field(1, 'build_type', 'string'),
      field(2, 'external_parameters', 'struct'),
      field(3, 'internal_parameters', 'struct'),
      message('resolved_dependencies', 4, `${SLSA_V1}.ResourceDescriptor`, { repeated: true }),
    ],
  },
  {
    fullName: `${SLSA_V1}.ResourceDescriptor`,
    fields: [
      field(1, 'name', 'string'),
      field(2, 'uri', 'string'),
      field(3, 'digest', 'string', { map: true }),
      field(4, 'content', 'bytes'),
      field(5, 'download_location', 'string'),
      field(6, 'media_type', 'string'),
      field(7, 'annotations', 'value', { map: true }),
    ],
  },
  {
    fullName: `${SLSA_V1}.RunDetails`,
    fields: [
      message('builder', 1, `${SLSA_V1}.ProvenanceBuilder`),
      message('metadata', 2, `${SLSA_V1}.BuildMetadata`),
      message('byproducts', 3, `${SLSA_V1}.ResourceDescriptor`, { repeated: true }),
    ],
  },
  {
    fullName: `${SLSA_V1}.ProvenanceBuilder`,
    fields: [
      field(1, 'id', 'string'),
      field(2, 'version', 'string', { map: true }),
      message('builder_dependencies', 3, `${SLSA_V1}.ResourceDescriptor`, { repeated: true }),
    ],
  },
  {
    fullName: `${SLSA_V1}.BuildMetadata`,
    fields: [
      field(1, 'invocation_id', 'string'),
      field(2, 'started_on', 'timestamp'),
      field(3, 'finished_on', 'timestamp'),
    ],
  },
  {
    fullName: `${V1}.Envelope`,
    fields: [
      field(1, 'payload', 'bytes'),
      field(2, 'payload_type', 'string'),
      message('signatures', 3, `${V1}.EnvelopeSignature`, { repeated: true }),
    ],
  },
  { fullName: `${V1}.EnvelopeSignature`, fields: [field(1, 'sig', 'bytes'), field(2, 'keyid', 'string')] },
  {
    fullName: BATCH_CREATE_NOTES_REQUEST,
    fields: [field(1, 'parent', 'string'), message('notes', 2, NOTE, { map: true })],
  },
  {
    fullName: BATCH_CREATE_OCCURRENCES_REQUEST,
    fields: [field(1, 'parent', 'string'), message('occurrences', 2, OCCURRENCE, { repeated: true })],
  },
];

export const MESSAGES: ReadonlyMap<string, MessageSpec> = new Map(MESSAGE_LIST.map((m) => [m.fullName, m]));

export function messageSpec(fullName: string): MessageSpec {
  const spec = MESSAGES.get(fullName);
  if (spec === undefined) throw new Error(`no schema for ${fullName}`);
  return spec;
}
