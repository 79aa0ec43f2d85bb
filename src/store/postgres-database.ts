import pg from 'pg';
import type { Logger } from 'pino';
import { redactDatabaseUrl, type SqlRunner, type StoreDatabase, StoreDatabaseError } from './database.js';

/** PostgreSQL at `url` (postgres://user:password@host:port/db), through a small pool. */
export async function openPostgresDatabase(
  url: string,
  logger: Logger,
  maxConnections = 10,
): Promise<StoreDatabase> {
  const pool = new pg.Pool({ connectionString: url, max: maxConnections });
  // An idle connection that breaks (server restart) must not crash the store; the next query reconnects.
  pool.on('error', (error) =>
    logger.warn({ err: { message: error.message } }, 'idle database connection failed'),
  );
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new StoreDatabaseError(
      'ERR_STORE_DATABASE_OPEN',
      `cannot connect to ${redactDatabaseUrl(url)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return new PostgresDatabase(pool);
}

class PostgresDatabase implements StoreDatabase {
  readonly engine = 'postgres';
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async query<Row extends object>(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return (await this.#pool.query<Row & pg.QueryResultRow>(sql, [...params])).rows;
  }

  async transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await work({
        query: async <Row extends object>(sql: string, params: readonly unknown[] = []) =>
          (await client.query<Row & pg.QueryResultRow>(sql, [...params])).rows,
      });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      // A connection that could not even roll back is discarded, not handed to the next request.
      client.release(broken);
    }
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}
