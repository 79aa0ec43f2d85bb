import type { Logger } from 'pino';
import { type StoreDatabase, StoreDatabaseError } from './database.js';
import { MIGRATIONS, type Migration } from './migrations.js';

/** Any constant: every store process migrating the same database takes this lock first. */
const MIGRATION_LOCK = 0x67726166; // "graf"

/**
 * Brings the schema up to date: in one transaction, under an advisory lock (two stores starting
 * against one PostgreSQL take turns), applies the migrations not yet in `schema_migrations`.
 * Refuses a database migrated by a newer version, or one whose history differs from ours.
 * Returns the versions it applied.
 */
export async function migrate(
  db: StoreDatabase,
  logger: Logger,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  try {
    return await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await tx.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version integer PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const rows = await tx.query<{ version: number; name: string }>(
        'SELECT version, name FROM schema_migrations ORDER BY version',
      );
      for (const row of rows) {
        const known = migrations.find((m) => m.version === row.version);
        if (known === undefined) {
          throw new StoreDatabaseError(
            'ERR_STORE_DATABASE_SCHEMA',
            `the database has schema version ${row.version}, which this version of the store does not know; run a newer store`,
          );
        }
        if (known.name !== row.name) {
          throw new StoreDatabaseError(
            'ERR_STORE_DATABASE_SCHEMA',
            `schema version ${row.version} in the database is "${row.name}", expected "${known.name}"`,
          );
        }
      }
      const applied = new Set(rows.map((r) => r.version));
      const done: number[] = [];
      for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
        if (applied.has(migration.version)) continue;
        for (const statement of migration.statements) await tx.query(statement);
        await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          migration.version,
          migration.name,
        ]);
        logger.info(
          { version: migration.version, name: migration.name, engine: db.engine },
          'schema migration applied',
        );
        done.push(migration.version);
      }
      return done;
    });
  } catch (error) {
    if (error instanceof StoreDatabaseError) throw error;
    throw new StoreDatabaseError(
      'ERR_STORE_DATABASE_MIGRATE',
      `schema migration failed: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
