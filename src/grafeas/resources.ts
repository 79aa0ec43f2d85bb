/**
 * Grafeas v1 resources in their JSON (REST) form, as far as this project writes and reads them.
 * Field names are the proto3 JSON names; bytes are base64 strings; timestamps RFC 3339 strings.
 * src/grafeas/schema.ts holds the same shapes as data for validation.
 */
import type { NoteKind } from './schema.js';

export type { NoteKind };

export interface RelatedUrl {
  url?: string;
  label?: string;
}

export interface BuildNote {
  builderVersion: string;
}

export interface Note {
  /** Output only: `projects/{project}/notes/{noteId}`. */
  name?: string;
  shortDescription?: string;
  longDescription?: string;
  kind?: NoteKind;
  relatedUrl?: RelatedUrl[];
  expirationTime?: string;
  createTime?: string;
  updateTime?: string;
  relatedNoteNames?: string[];
  build?: BuildNote;
}

export interface GrafeasResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  /** base64 */
  content?: string;
  downloadLocation?: string;
  mediaType?: string;
  annotations?: Record<string, unknown>;
}

/** grafeas.v1.InTotoSlsaProvenanceV1: an in-toto statement with a SLSA v1 predicate, subjects reduced to name + digest. */
export interface InTotoSlsaProvenanceV1 {
  _type?: string;
  subject?: Array<{ name?: string; digest?: Record<string, string> }>;
  predicateType?: string;
  predicate?: {
    buildDefinition?: {
      buildType?: string;
      externalParameters?: Record<string, unknown>;
      internalParameters?: Record<string, unknown>;
      resolvedDependencies?: GrafeasResourceDescriptor[];
    };
    runDetails?: {
      builder?: {
        id?: string;
        version?: Record<string, string>;
        builderDependencies?: GrafeasResourceDescriptor[];
      };
      metadata?: { invocationId?: string; startedOn?: string; finishedOn?: string };
      byproducts?: GrafeasResourceDescriptor[];
    };
  };
}

export interface BuildOccurrence {
  provenanceBytes?: string;
  inTotoSlsaProvenanceV1?: InTotoSlsaProvenanceV1;
}

export interface EnvelopeSignature {
  /** base64 of the raw signature bytes. */
  sig: string;
  keyid?: string;
}

/** grafeas.v1.Envelope: a DSSE envelope with bytes fields (base64 in JSON). */
export interface Envelope {
  /** base64 of the exact payload bytes that were signed. */
  payload: string;
  payloadType: string;
  signatures?: EnvelopeSignature[];
}

export interface Occurrence {
  /** Output only: `projects/{project}/occurrences/{id}`. */
  name?: string;
  resourceUri: string;
  noteName: string;
  kind: NoteKind;
  remediation?: string;
  createTime?: string;
  updateTime?: string;
  build?: BuildOccurrence;
  envelope?: Envelope;
}

export interface ListNotesResponse {
  notes?: Note[];
  nextPageToken?: string;
}

export interface ListOccurrencesResponse {
  occurrences?: Occurrence[];
  nextPageToken?: string;
}

export interface BatchCreateNotesResponse {
  notes?: Note[];
}

export interface BatchCreateOccurrencesResponse {
  occurrences?: Occurrence[];
}

export interface ListOptions {
  filter?: string;
  pageSize?: number;
  pageToken?: string;
}
