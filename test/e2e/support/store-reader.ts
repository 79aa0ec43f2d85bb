import type { InTotoSlsaProvenanceV1 } from '../../../src/grafeas/resources.js';
import type { InTotoStatement } from '../../../src/provenance/statement-types.js';

/** A DSSE envelope as a Grafeas occurrence carries it (and as `verify --envelope` reads it). */
export interface StoredEnvelope {
  payload: string;
  payloadType: string;
  signatures: { sig: string; keyid?: string }[];
}

/** A BUILD occurrence as the store lists it, with its envelope's payload decoded. */
export interface StoredOccurrence {
  name: string;
  resourceUri: string;
  noteName: string;
  kind: string;
  /** When the store committed it (RFC 3339, the store's clock). */
  createTime: string;
  /** `build.inTotoSlsaProvenanceV1`: the statement in the proto's own form. */
  provenance: InTotoSlsaProvenanceV1 | undefined;
  envelope: StoredEnvelope;
  /** The payload bytes exactly as stored (base64-decoded, never re-serialised). */
  payloadBytes: Buffer;
  statement: InTotoStatement;
}

/** Occurrences of this many per page: small enough that listing really pages past the first. */
const PAGE_SIZE = 50;
const MAX_PAGES = 100;

/** The store answered a list request with something other than 200. */
export class StoreReadError extends Error {
  readonly code = 'ERR_TEST_STORE_READ';
}

/**
 * Lists a project's BUILD occurrences through the store's REST API (`filter` on `resourceUrl` and
 * `kind`, following `nextPageToken`). Plain fetch, not the product's client: the test reads what a
 * third party would read.
 */
export async function listBuildOccurrences(
  storeUrl: string,
  project: string,
  resourceUrl?: string,
  /** Bearer token, for a store started with `--tokens-file`. */
  token?: string,
): Promise<StoredOccurrence[]> {
  const terms = ['kind="BUILD"', ...(resourceUrl === undefined ? [] : [`resourceUrl="${resourceUrl}"`])];
  const found: StoredOccurrence[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams({ filter: terms.join(' AND '), pageSize: String(PAGE_SIZE) });
    if (pageToken !== undefined) query.set('pageToken', pageToken);
    const response = await fetch(`${storeUrl}/v1/projects/${project}/occurrences?${query}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    const text = await response.text();
    if (response.status !== 200) {
      throw new StoreReadError(`listing occurrences answered ${response.status}: ${text.slice(0, 500)}`);
    }
    const body = JSON.parse(text) as { occurrences?: RawOccurrence[]; nextPageToken?: string };
    for (const raw of body.occurrences ?? []) found.push(decode(raw));
    pageToken = body.nextPageToken || undefined;
    if (pageToken === undefined) return found;
  }
  throw new StoreReadError(`more than ${MAX_PAGES} pages of occurrences`);
}

interface RawOccurrence {
  name: string;
  resourceUri: string;
  noteName: string;
  kind: string;
  createTime: string;
  build?: { inTotoSlsaProvenanceV1?: InTotoSlsaProvenanceV1 };
  envelope?: StoredEnvelope;
}

function decode(raw: RawOccurrence): StoredOccurrence {
  if (raw.envelope === undefined) throw new StoreReadError(`occurrence ${raw.name} has no envelope`);
  const payloadBytes = Buffer.from(raw.envelope.payload, 'base64');
  return {
    name: raw.name,
    resourceUri: raw.resourceUri,
    noteName: raw.noteName,
    kind: raw.kind,
    createTime: raw.createTime,
    provenance: raw.build?.inTotoSlsaProvenanceV1,
    envelope: raw.envelope,
    payloadBytes,
    statement: JSON.parse(payloadBytes.toString('utf8')) as InTotoStatement,
  };
}

/** `https://<registry>/<repository>@sha256:<hex>`, the resource URL issue 4 item 3 prescribes. */
export function imageResourceUrl(registryHost: string, repository: string, digest: string): string {
  return `https://${registryHost}/${repository}@${digest}`;
}

/**
 * Which report an occurrence came from: the per-image statement sent at the push carries no
 * `finishedOn`; the build statement sent at finalize does (issue 4 item 2).
 */
export function reportKindOf(occurrence: StoredOccurrence): 'image' | 'build' {
  return occurrence.statement.predicate?.runDetails?.metadata?.finishedOn === undefined ? 'image' : 'build';
}

/** `registry/repository@sha256:hex` of every subject of a statement, sorted. */
export function subjectReferences(statement: InTotoStatement): string[] {
  return statement.subject.map((s) => `${s.name}@sha256:${s.digest?.sha256}`).sort();
}

/** resourceUri → how many occurrences of each report kind it has. */
export function countByResource(
  occurrences: readonly StoredOccurrence[],
): Map<string, { image: number; build: number }> {
  const counts = new Map<string, { image: number; build: number }>();
  for (const occurrence of occurrences) {
    const entry = counts.get(occurrence.resourceUri) ?? { image: 0, build: 0 };
    entry[reportKindOf(occurrence)] += 1;
    counts.set(occurrence.resourceUri, entry);
  }
  return counts;
}

/** A note as the store serves it (GET /v1/{name}). */
export interface StoredNote {
  name: string;
  kind: string;
  build?: { builderVersion?: string };
}

/** Every note of a project, through the list API. */
export async function listNotes(storeUrl: string, project: string): Promise<StoredNote[]> {
  const response = await fetch(`${storeUrl}/v1/projects/${project}/notes?pageSize=1000`);
  const text = await response.text();
  if (response.status !== 200) {
    throw new StoreReadError(`listing notes answered ${response.status}: ${text.slice(0, 500)}`);
  }
  return (JSON.parse(text) as { notes?: StoredNote[] }).notes ?? [];
}
