import { randomUUID } from 'node:crypto';
import { type FilterTerm, parseFilter } from '../grafeas/filter.js';
import { decodeMessage, type JsonObject } from '../grafeas/json-codec.js';
import {
  isNoteId,
  isOccurrenceId,
  isProjectId,
  NOTE_ID_RULE,
  noteName,
  occurrenceName,
  PROJECT_ID_RULE,
  parseNoteName,
  projectName,
} from '../grafeas/names.js';
import type {
  BatchCreateNotesResponse,
  BatchCreateOccurrencesResponse,
  ListNotesResponse,
  ListOccurrencesResponse,
  Note,
  Occurrence,
} from '../grafeas/resources.js';
import {
  BATCH_CREATE_NOTES_REQUEST,
  BATCH_CREATE_OCCURRENCES_REQUEST,
  NOTE,
  NOTE_KINDS,
  type NoteKind,
  OCCURRENCE,
} from '../grafeas/schema.js';
import { GrafeasApiError, invalidArgument, notFound, unimplemented } from '../grafeas/status.js';
import { timestampOf } from '../grafeas/timestamp.js';
import { PageTokens } from './page-token.js';
import { type GrafeasRepository, NotesExistError, type OccurrenceRow, type Page } from './repository.js';

/** List parameters as they arrive in the query string. */
export interface ListParams {
  readonly filter?: string;
  readonly pageSize?: string;
  readonly pageToken?: string;
}

export interface GrafeasServiceOptions {
  readonly now?: () => Date;
  readonly newOccurrenceId?: () => string;
  /** Seals and opens page tokens; default: a random key for this process. */
  readonly pageTokens?: PageTokens;
}

/** AIP-158: a page size of 0 or none means the server's default; larger than the maximum means the maximum. */
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
/** The v1 API's limit on batchCreate. */
const MAX_BATCH = 1000;
const OCCURRENCE_FILTER_FIELDS = ['resourceUrl', 'kind', 'noteName'] as const;
const NOTE_OCCURRENCE_FILTER_FIELDS = ['resourceUrl', 'kind'] as const;
const NOTE_FILTER_FIELDS = ['kind'] as const;
const SUPPORTED_KIND: NoteKind = 'BUILD';

/**
 * The Grafeas v1 operations of the store, on validated input: each method takes what the HTTP
 * layer parsed (path parameters, query parameters, the JSON body) and returns the JSON answer,
 * or throws GrafeasApiError. Output-only fields (name, createTime, updateTime) are set here and
 * ignored when a client sends them. Nothing here updates what was stored.
 */
export class GrafeasService {
  readonly #repository: GrafeasRepository;
  readonly #now: () => Date;
  readonly #newOccurrenceId: () => string;
  readonly #pageTokens: PageTokens;

  constructor(repository: GrafeasRepository, options: GrafeasServiceOptions = {}) {
    this.#repository = repository;
    this.#now = options.now ?? (() => new Date());
    this.#newOccurrenceId = options.newOccurrenceId ?? randomUUID;
    this.#pageTokens = options.pageTokens ?? new PageTokens();
  }

  async createNote(project: string, noteId: string | undefined, body: unknown): Promise<Note> {
    checkProject(project);
    if (noteId === undefined || noteId === '') throw invalidArgument('noteId is required');
    checkNoteId(noteId, 'noteId');
    const [note] = await this.#insertNotes(project, [[noteId, readNote(body, 'note')]]);
    return note!;
  }

  async batchCreateNotes(project: string, body: unknown): Promise<BatchCreateNotesResponse> {
    checkProject(project);
    const request = decodeMessage(BATCH_CREATE_NOTES_REQUEST, body, 'request');
    checkParent(request, project);
    const notes = Object.entries((request.notes ?? {}) as JsonObject);
    if (notes.length === 0) throw invalidArgument('notes is required and must not be empty');
    if (notes.length > MAX_BATCH) throw invalidArgument(`at most ${MAX_BATCH} notes per batchCreate`);
    const entries = notes.map(([noteId, note]): [string, Note] => {
      checkNoteId(noteId, `notes["${noteId}"]`);
      return [noteId, checkNote(note as Note, `notes["${noteId}"]`)];
    });
    return { notes: await this.#insertNotes(project, entries) };
  }

  async getNote(project: string, noteId: string): Promise<Note> {
    checkProject(project);
    checkNoteId(noteId, 'note id');
    const note = await this.#repository.getNote(project, noteId);
    if (note === undefined) throw notFound(`note ${noteName(project, noteId)} not found`);
    return note;
  }

  async listNotes(project: string, params: ListParams): Promise<ListNotesResponse> {
    checkProject(project);
    const terms = readFilter(params.filter, NOTE_FILTER_FIELDS);
    const scope = `notes\n${project}\n${JSON.stringify(terms)}`;
    const page = await this.#repository.listNotes(
      project,
      terms,
      this.#pageTokens.decode(params.pageToken, scope),
      readPageSize(params.pageSize),
    );
    return withPageToken('notes', page, (seq) => this.#pageTokens.encode(seq, scope));
  }

  async createOccurrence(project: string, body: unknown): Promise<Occurrence> {
    checkProject(project);
    const occurrence = readOccurrence(body, 'occurrence');
    const [created] = await this.#insertOccurrences(project, [occurrence], ['occurrence']);
    return created!;
  }

  async batchCreateOccurrences(project: string, body: unknown): Promise<BatchCreateOccurrencesResponse> {
    checkProject(project);
    const request = decodeMessage(BATCH_CREATE_OCCURRENCES_REQUEST, body, 'request');
    checkParent(request, project);
    const list = (request.occurrences ?? []) as Occurrence[];
    if (list.length === 0) throw invalidArgument('occurrences is required and must not be empty');
    if (list.length > MAX_BATCH) throw invalidArgument(`at most ${MAX_BATCH} occurrences per batchCreate`);
    const paths = list.map((_, i) => `occurrences[${i}]`);
    const occurrences = list.map((o, i) => checkOccurrence(o, paths[i]!));
    return { occurrences: await this.#insertOccurrences(project, occurrences, paths) };
  }

  async getOccurrence(project: string, occurrenceId: string): Promise<Occurrence> {
    checkProject(project);
    const occurrence = isOccurrenceId(occurrenceId)
      ? await this.#repository.getOccurrence(project, occurrenceId)
      : undefined;
    if (occurrence === undefined)
      throw notFound(`occurrence ${occurrenceName(project, occurrenceId)} not found`);
    return occurrence;
  }

  async getOccurrenceNote(project: string, occurrenceId: string): Promise<Note> {
    const occurrence = await this.getOccurrence(project, occurrenceId);
    const ref = parseNoteName(occurrence.noteName);
    const note = ref === undefined ? undefined : await this.#repository.getNote(ref.project, ref.noteId);
    if (note === undefined) throw notFound(`note ${occurrence.noteName} not found`);
    return note;
  }

  async listOccurrences(project: string, params: ListParams): Promise<ListOccurrencesResponse> {
    checkProject(project);
    const terms = readFilter(params.filter, OCCURRENCE_FILTER_FIELDS);
    const scope = `occurrences\n${project}\n${JSON.stringify(terms)}`;
    const page = await this.#repository.listOccurrences(
      { project },
      terms,
      this.#pageTokens.decode(params.pageToken, scope),
      readPageSize(params.pageSize),
    );
    return withPageToken('occurrences', page, (seq) => this.#pageTokens.encode(seq, scope));
  }

  /** The occurrences pointing at one note, in any project. */
  async listNoteOccurrences(
    project: string,
    noteId: string,
    params: ListParams,
  ): Promise<ListOccurrencesResponse> {
    await this.getNote(project, noteId);
    const name = noteName(project, noteId);
    const terms = readFilter(params.filter, NOTE_OCCURRENCE_FILTER_FIELDS);
    const scope = `noteOccurrences\n${name}\n${JSON.stringify(terms)}`;
    const page = await this.#repository.listOccurrences(
      { noteName: name },
      terms,
      this.#pageTokens.decode(params.pageToken, scope),
      readPageSize(params.pageSize),
    );
    return withPageToken('occurrences', page, (seq) => this.#pageTokens.encode(seq, scope));
  }

  /** Hides the occurrence from the API; the stored record stays (see migrations.ts). */
  async deleteOccurrence(project: string, occurrenceId: string): Promise<Record<string, never>> {
    checkProject(project);
    const deleted =
      isOccurrenceId(occurrenceId) &&
      (await this.#repository.deleteOccurrence(project, occurrenceId, timestampOf(this.#now())));
    if (!deleted) throw notFound(`occurrence ${occurrenceName(project, occurrenceId)} not found`);
    return {};
  }

  async #insertNotes(project: string, entries: readonly [string, Note][]): Promise<Note[]> {
    const time = timestampOf(this.#now());
    const notes = entries.map(([noteId, note]) => ({
      noteId,
      body: { name: noteName(project, noteId), ...note, createTime: time, updateTime: time },
    }));
    try {
      await this.#repository.insertNotes(
        notes.map((n) => ({ project, noteId: n.noteId, kind: n.body.kind!, body: n.body, createTime: time })),
      );
    } catch (error) {
      if (error instanceof NotesExistError) {
        throw new GrafeasApiError(
          'ALREADY_EXISTS',
          `${error.names.join(', ')} already exist${error.names.length === 1 ? 's' : ''}`,
        );
      }
      throw error;
    }
    return notes.map((n) => n.body);
  }

  async #insertOccurrences(
    project: string,
    occurrences: readonly Occurrence[],
    paths: readonly string[],
  ): Promise<Occurrence[]> {
    const kinds = new Map<string, string | undefined>();
    for (const [i, occurrence] of occurrences.entries()) {
      if (!kinds.has(occurrence.noteName)) {
        const ref = parseNoteName(occurrence.noteName)!;
        kinds.set(occurrence.noteName, (await this.#repository.getNote(ref.project, ref.noteId))?.kind);
      }
      const kind = kinds.get(occurrence.noteName);
      if (kind === undefined) throw notFound(`${paths[i]}.noteName: note ${occurrence.noteName} not found`);
      if (kind !== occurrence.kind) {
        throw invalidArgument(
          `${paths[i]}: kind ${occurrence.kind} does not match note ${occurrence.noteName} of kind ${kind}`,
        );
      }
    }
    const time = timestampOf(this.#now());
    const rows: OccurrenceRow[] = occurrences.map((occurrence) => {
      const occurrenceId = this.#newOccurrenceId();
      return {
        project,
        occurrenceId,
        resourceUri: occurrence.resourceUri,
        noteName: occurrence.noteName,
        kind: occurrence.kind,
        createTime: time,
        body: {
          name: occurrenceName(project, occurrenceId),
          ...occurrence,
          createTime: time,
          updateTime: time,
        },
      };
    });
    await this.#repository.insertOccurrences(rows);
    return rows.map((r) => r.body);
  }
}

function readNote(body: unknown, path: string): Note {
  return checkNote(decodeMessage(NOTE, body, path) as Note, path);
}

/** Required fields of a Note the store keeps; output-only fields dropped. */
function checkNote(decoded: Note, path: string): Note {
  const { name: _name, createTime: _created, updateTime: _updated, ...note } = decoded;
  checkKind(note.kind, path);
  if (note.build === undefined) throw invalidArgument(`${path}.build is required for a BUILD note`);
  if (!note.build.builderVersion) throw invalidArgument(`${path}.build.builderVersion is required`);
  return note;
}

function readOccurrence(body: unknown, path: string): Occurrence {
  return checkOccurrence(decodeMessage(OCCURRENCE, body, path) as unknown as Occurrence, path);
}

/** Required fields of an Occurrence the store keeps; output-only fields dropped. */
function checkOccurrence(decoded: Occurrence, path: string): Occurrence {
  const { name: _name, createTime: _created, updateTime: _updated, ...occurrence } = decoded;
  if (!occurrence.resourceUri) throw invalidArgument(`${path}.resourceUri is required`);
  if (!occurrence.noteName) throw invalidArgument(`${path}.noteName is required`);
  if (parseNoteName(occurrence.noteName) === undefined) {
    throw invalidArgument(`${path}.noteName must be projects/{project}/notes/{noteId}`);
  }
  checkKind(occurrence.kind, path);
  const build = occurrence.build;
  if (build === undefined) throw invalidArgument(`${path}.build is required for a BUILD occurrence`);
  if (build.inTotoSlsaProvenanceV1 === undefined && !build.provenanceBytes) {
    throw invalidArgument(`${path}.build needs inTotoSlsaProvenanceV1 (or provenanceBytes)`);
  }
  const envelope = occurrence.envelope;
  if (envelope !== undefined) {
    if (!envelope.payload) throw invalidArgument(`${path}.envelope.payload is required`);
    if (!envelope.payloadType) throw invalidArgument(`${path}.envelope.payloadType is required`);
    for (const [i, signature] of (envelope.signatures ?? []).entries()) {
      if (!signature.sig) throw invalidArgument(`${path}.envelope.signatures[${i}].sig is required`);
    }
  }
  return occurrence;
}

/**
 * `kind` is documented "output only", yet Grafeas servers (Container Analysis among them) require
 * it on create; so does this store, and it must agree with the details given.
 */
function checkKind(kind: string | undefined, path: string): void {
  if (kind === undefined) throw invalidArgument(`${path}.kind is required`);
  if (kind !== SUPPORTED_KIND) {
    throw unimplemented(
      `${path}.kind ${kind} is not supported by this store: it keeps BUILD notes and occurrences only`,
    );
  }
}

function checkProject(project: string): void {
  if (!isProjectId(project)) throw invalidArgument(`project id "${project}" must be ${PROJECT_ID_RULE}`);
}

function checkNoteId(noteId: string, what: string): void {
  if (!isNoteId(noteId)) throw invalidArgument(`${what} "${noteId}" must be ${NOTE_ID_RULE}`);
}

/** With body "*", a request may repeat the parent of its path; it must be the same one. */
function checkParent(request: JsonObject, project: string): void {
  if (request.parent !== undefined && request.parent !== projectName(project)) {
    throw invalidArgument(
      `parent "${String(request.parent)}" in the body differs from ${projectName(project)} in the path`,
    );
  }
}

function readFilter(filter: string | undefined, fields: readonly string[]): FilterTerm[] {
  const terms = parseFilter(filter ?? '', fields);
  for (const term of terms) {
    if (term.field === 'kind' && !(NOTE_KINDS as readonly string[]).includes(term.value)) {
      throw invalidArgument(`filter: kind "${term.value}" is not a NoteKind`);
    }
  }
  return terms;
}

function readPageSize(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_PAGE_SIZE;
  if (!/^-?\d+$/.test(text)) throw invalidArgument(`pageSize "${text}" is not an integer`);
  const size = Number(text);
  if (size < 0) throw invalidArgument('pageSize must not be negative');
  if (size === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(size, MAX_PAGE_SIZE);
}

/** A list answer as Google servers write it: an empty list and the last page's token left out. */
function withPageToken<K extends 'notes' | 'occurrences', T>(
  key: K,
  page: Page<T>,
  pageToken: (afterSeq: number) => string,
): { [P in K]?: T[] } & { nextPageToken?: string } {
  const answer: { [key: string]: unknown } = {};
  if (page.items.length > 0) answer[key] = page.items;
  if (page.lastSeq !== undefined) answer.nextPageToken = pageToken(page.lastSeq);
  return answer as { [P in K]?: T[] } & { nextPageToken?: string };
}
