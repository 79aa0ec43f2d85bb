/**
 * The store's schema, as one ordered list of migrations shared by PGlite and PostgreSQL.
 * Never edit a released migration: add a new one. Each is applied once, in order, and recorded
 * in `schema_migrations`.
 *
 * Stored provenance is insert-only. The code never UPDATEs or DELETEs these tables, and triggers
 * refuse it anyway, so a bug or a stray SQL session cannot rewrite a record; a deployment can
 * go further and grant the store's role only SELECT and INSERT. Deleting an occurrence through
 * the API adds a row to `grafeas_occurrence_deletions`: the occurrence disappears from the API,
 * the record of it stays.
 *
 * Bodies are `json`, not `jsonb`: PostgreSQL keeps the text as the store wrote it (key order,
 * number spelling), so what is read back is byte for byte what was accepted.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** One SQL statement each (both drivers run them with the extended protocol). */
  readonly statements: readonly string[];
}

const refuseChanges = (table: string): string[] => [
  `CREATE TRIGGER ${table}_insert_only BEFORE UPDATE OR DELETE ON ${table}
     FOR EACH ROW EXECUTE FUNCTION grafeas_refuse_change()`,
  `CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table}
     FOR EACH STATEMENT EXECUTE FUNCTION grafeas_refuse_change()`,
];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'notes, occurrences and deletions, insert-only',
    statements: [
      `CREATE TABLE grafeas_notes (
         seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         project text NOT NULL,
         note_id text NOT NULL,
         kind text NOT NULL,
         body json NOT NULL,
         create_time timestamptz NOT NULL,
         UNIQUE (project, note_id)
       )`,
      'CREATE INDEX grafeas_notes_by_project ON grafeas_notes (project, seq)',
      `CREATE TABLE grafeas_occurrences (
         seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         project text NOT NULL,
         occurrence_id text NOT NULL UNIQUE,
         resource_uri text NOT NULL,
         note_name text NOT NULL,
         kind text NOT NULL,
         body json NOT NULL,
         create_time timestamptz NOT NULL
       )`,
      'CREATE INDEX grafeas_occurrences_by_project ON grafeas_occurrences (project, seq)',
      'CREATE INDEX grafeas_occurrences_by_resource ON grafeas_occurrences (project, resource_uri, seq)',
      'CREATE INDEX grafeas_occurrences_by_note ON grafeas_occurrences (note_name, seq)',
      `CREATE TABLE grafeas_occurrence_deletions (
         occurrence_id text PRIMARY KEY REFERENCES grafeas_occurrences (occurrence_id),
         delete_time timestamptz NOT NULL
       )`,
      `CREATE FUNCTION grafeas_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'stored provenance is insert-only: % on % refused', TG_OP, TG_TABLE_NAME
           USING ERRCODE = 'P0001';
       END
       $$`,
      ...refuseChanges('grafeas_notes'),
      ...refuseChanges('grafeas_occurrences'),
      ...refuseChanges('grafeas_occurrence_deletions'),
    ],
  },
];
