import { ProvenanceProxyError } from '../errors.js';

/** Runs one SQL statement with `$1…` parameters and returns its rows. */
export interface SqlRunner {
  query<Row extends object>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

/**
 * The store's view of its database: the same calls on embedded PGlite and on PostgreSQL, so the
 * schema, the migrations and every query are shared.
 */
export interface StoreDatabase extends SqlRunner {
  /** `pglite` (embedded, in the data directory) or `postgres` (--database-url). */
  readonly engine: 'pglite' | 'postgres';
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it rejects. */
  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The database could not be opened, migrated or used. */
export class StoreDatabaseError extends ProvenanceProxyError {
  constructor(
    code: 'ERR_STORE_DATABASE_OPEN' | 'ERR_STORE_DATABASE_MIGRATE' | 'ERR_STORE_DATABASE_SCHEMA',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** SQLSTATE of an error from either driver, when it carries one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export const UNIQUE_VIOLATION = '23505';

/** A database URL fit for logs: the password replaced. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = 'REDACTED';
    return parsed.href;
  } catch {
    return '(unparseable database URL)';
  }
}
