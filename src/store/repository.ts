import { ProvenanceProxyError } from '../errors.js';
import type { FilterTerm } from '../grafeas/filter.js';
import type { Note, Occurrence } from '../grafeas/resources.js';
import { type SqlRunner, type StoreDatabase, sqlState, UNIQUE_VIOLATION } from './database.js';

export interface NoteRow {
  readonly project: string;
  readonly noteId: string;
  readonly kind: string;
  readonly body: Note;
  readonly createTime: string;
}

export interface OccurrenceRow {
  readonly project: string;
  readonly occurrenceId: string;
  readonly resourceUri: string;
  readonly noteName: string;
  readonly kind: string;
  readonly body: Occurrence;
  readonly createTime: string;
}

export interface Page<T> {
  readonly items: T[];
  /** Position of the last item, when more rows follow. */
  readonly lastSeq: number | undefined;
}

/** Some of the notes to insert exist already; nothing was inserted. */
export class NotesExistError extends ProvenanceProxyError {
  readonly names: string[];
  constructor(names: string[]) {
    super('ERR_STORE_NOTES_EXIST', `notes already exist: ${names.join(', ')}`);
    this.names = names;
  }
}

/** Filter fields of the API and the columns they compare. */
const OCCURRENCE_COLUMNS: Record<string, string> = {
  resourceUrl: 'resource_uri',
  kind: 'kind',
  noteName: 'note_name',
};
const NOTE_COLUMNS: Record<string, string> = { kind: 'kind' };

const NOT_DELETED =
  'NOT EXISTS (SELECT 1 FROM grafeas_occurrence_deletions d WHERE d.occurrence_id = o.occurrence_id)';

/**
 * Every SQL statement of the store. Only SELECT and INSERT: stored provenance is never changed.
 */
export class GrafeasRepository {
  readonly #db: StoreDatabase;

  constructor(db: StoreDatabase) {
    this.#db = db;
  }

  /** Inserts all notes or none. */
  async insertNotes(rows: readonly NoteRow[]): Promise<void> {
    try {
      await this.#db.transaction(async (tx) => {
        const existing = await existingNotes(tx, rows);
        if (existing.length > 0) throw new NotesExistError(existing);
        for (const row of rows) {
          await tx.query(
            'INSERT INTO grafeas_notes (project, note_id, kind, body, create_time) VALUES ($1, $2, $3, $4::json, $5)',
            [row.project, row.noteId, row.kind, JSON.stringify(row.body), row.createTime],
          );
        }
      });
    } catch (error) {
      // Two requests for one new note at once: the loser meets the unique constraint.
      if (sqlState(error) === UNIQUE_VIOLATION)
        throw new NotesExistError(rows.map((r) => `projects/${r.project}/notes/${r.noteId}`));
      throw error;
    }
  }

  async getNote(project: string, noteId: string): Promise<Note | undefined> {
    const rows = await this.#db.query<{ body: Note }>(
      'SELECT body FROM grafeas_notes WHERE project = $1 AND note_id = $2',
      [project, noteId],
    );
    return rows[0]?.body;
  }

  async listNotes(
    project: string,
    terms: readonly FilterTerm[],
    afterSeq: number,
    limit: number,
  ): Promise<Page<Note>> {
    const where = ['n.project = $1', 'n.seq > $2'];
    const params: unknown[] = [project, afterSeq];
    addTerms(where, params, terms, NOTE_COLUMNS, 'n');
    const rows = await this.#db.query<{ seq: number | string; body: Note }>(
      `SELECT n.seq, n.body FROM grafeas_notes n WHERE ${where.join(' AND ')} ORDER BY n.seq LIMIT $${params.length + 1}`,
      [...params, limit + 1],
    );
    return page(rows, limit);
  }

  /** Inserts all occurrences or none. */
  async insertOccurrences(rows: readonly OccurrenceRow[]): Promise<void> {
    await this.#db.transaction(async (tx) => {
      for (const row of rows) {
        await tx.query(
          `INSERT INTO grafeas_occurrences (project, occurrence_id, resource_uri, note_name, kind, body, create_time)
           VALUES ($1, $2, $3, $4, $5, $6::json, $7)`,
          [
            row.project,
            row.occurrenceId,
            row.resourceUri,
            row.noteName,
            row.kind,
            JSON.stringify(row.body),
            row.createTime,
          ],
        );
      }
    });
  }

  async getOccurrence(project: string, occurrenceId: string): Promise<Occurrence | undefined> {
    const rows = await this.#db.query<{ body: Occurrence }>(
      `SELECT o.body FROM grafeas_occurrences o WHERE o.project = $1 AND o.occurrence_id = $2 AND ${NOT_DELETED}`,
      [project, occurrenceId],
    );
    return rows[0]?.body;
  }

  /** Occurrences of a project, or (with `noteName` in scope) of a note across projects. */
  async listOccurrences(
    scope: { project: string } | { noteName: string },
    terms: readonly FilterTerm[],
    afterSeq: number,
    limit: number,
  ): Promise<Page<Occurrence>> {
    const where = ['o.seq > $1', NOT_DELETED];
    const params: unknown[] = [afterSeq];
    if ('project' in scope) {
      params.push(scope.project);
      where.push(`o.project = $${params.length}`);
    } else {
      params.push(scope.noteName);
      where.push(`o.note_name = $${params.length}`);
    }
    addTerms(where, params, terms, OCCURRENCE_COLUMNS, 'o');
    const rows = await this.#db.query<{ seq: number | string; body: Occurrence }>(
      `SELECT o.seq, o.body FROM grafeas_occurrences o WHERE ${where.join(' AND ')} ORDER BY o.seq LIMIT $${params.length + 1}`,
      [...params, limit + 1],
    );
    return page(rows, limit);
  }

  /** Records the deletion; false when there is no such occurrence (or it was deleted before). */
  async deleteOccurrence(project: string, occurrenceId: string, deleteTime: string): Promise<boolean> {
    const rows = await this.#db.query<{ occurrence_id: string }>(
      `INSERT INTO grafeas_occurrence_deletions (occurrence_id, delete_time)
       SELECT o.occurrence_id, $3 FROM grafeas_occurrences o WHERE o.project = $1 AND o.occurrence_id = $2
       ON CONFLICT (occurrence_id) DO NOTHING
       RETURNING occurrence_id`,
      [project, occurrenceId, deleteTime],
    );
    return rows.length === 1;
  }
}

async function existingNotes(tx: SqlRunner, rows: readonly NoteRow[]): Promise<string[]> {
  const found: string[] = [];
  for (const row of rows) {
    const hit = await tx.query('SELECT 1 FROM grafeas_notes WHERE project = $1 AND note_id = $2', [
      row.project,
      row.noteId,
    ]);
    if (hit.length > 0) found.push(`projects/${row.project}/notes/${row.noteId}`);
  }
  return found;
}

function addTerms(
  where: string[],
  params: unknown[],
  terms: readonly FilterTerm[],
  columns: Record<string, string>,
  alias: string,
): void {
  for (const term of terms) {
    const column = columns[term.field];
    if (column === undefined) throw new Error(`no column for filter field ${term.field}`);
    params.push(term.value);
    where.push(`${alias}.${column} = $${params.length}`);
  }
}

function page<T>(rows: readonly { seq: number | string; body: T }[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  const more = rows.length > limit;
  return {
    items: items.map((r) => r.body),
    lastSeq: more ? Number(items[items.length - 1]!.seq) : undefined,
  };
}
