/**
 * Grafeas resource names: `projects/{project}`, `projects/{project}/notes/{noteId}`,
 * `projects/{project}/occurrences/{occurrenceId}`. One set of rules for the sink, the store and
 * the CLI, so a name one accepts the other can hold.
 */

/** Google project ids, including domain-scoped ones (`example.com:build`); also the ids other Grafeas servers accept. */
const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Note ids are chosen by the client and end up in URLs unescaped. */
const NOTE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** Occurrence ids are chosen by the server (UUIDs here, other forms elsewhere). */
const OCCURRENCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const PROJECT_ID_RULE = '1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit';
export const NOTE_ID_RULE = '1-100 letters, digits, ".", "_" or "-", starting with a letter or digit';

export function isProjectId(text: string): boolean {
  return PROJECT_ID.test(text);
}

export function isNoteId(text: string): boolean {
  return NOTE_ID.test(text);
}

export function isOccurrenceId(text: string): boolean {
  return OCCURRENCE_ID.test(text);
}

export function projectName(project: string): string {
  return `projects/${project}`;
}

export function noteName(project: string, noteId: string): string {
  return `projects/${project}/notes/${noteId}`;
}

export function occurrenceName(project: string, occurrenceId: string): string {
  return `projects/${project}/occurrences/${occurrenceId}`;
}

export interface NoteRef {
  readonly project: string;
  readonly noteId: string;
}

/** `projects/{p}/notes/{n}` split into its parts, or undefined when it is not a note name. */
export function parseNoteName(name: string): NoteRef | undefined {
  const m = /^projects\/([^/]+)\/notes\/([^/]+)$/.exec(name);
  if (m === null || !isProjectId(m[1]!) || !isNoteId(m[2]!)) return undefined;
  return { project: m[1]!, noteId: m[2]! };
}
