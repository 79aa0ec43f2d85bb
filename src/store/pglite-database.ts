import { mkdir } from 'node:fs/promises';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { type SqlRunner, type StoreDatabase, StoreDatabaseError } from './database.js';

/**
 * The embedded database: PGlite (PostgreSQL compiled to WebAssembly) keeping its files in
 * `directory`. One process at a time may open a directory.
 */
export async function openPgliteDatabase(directory: string): Promise<StoreDatabase> {
  let db: PGlite;
  try {
    await mkdir(directory, { recursive: true });
    db = await PGlite.create(directory);
  } catch (error) {
    throw new StoreDatabaseError(
      'ERR_STORE_DATABASE_OPEN',
      `cannot open the embedded database in ${directory}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return new PgliteDatabase(db);
}

class PgliteDatabase implements StoreDatabase {
  readonly engine = 'pglite';
  readonly #db: PGlite;

  constructor(db: PGlite) {
    this.#db = db;
  }

  async query<Row extends object>(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return (await this.#db.query<Row>(sql, [...params])).rows;
  }

  // PGlite runs one transaction at a time and holds other queries until it ends.
  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx: Transaction) =>
      work({
        query: async <Row extends object>(sql: string, params: readonly unknown[] = []) =>
          (await tx.query<Row>(sql, [...params])).rows,
      }),
    );
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
