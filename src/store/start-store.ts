import http from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { InvalidOptionError } from '../errors.js';
import { listenOn } from '../net/listen.js';
import { redactDatabaseUrl, type StoreDatabase } from './database.js';
import { GrafeasService, type GrafeasServiceOptions } from './grafeas-service.js';
import { createStoreRequestHandler } from './http-api.js';
import { migrate } from './migrate.js';
import type { PageTokens } from './page-token.js';
import { openPgliteDatabase } from './pglite-database.js';
import { openPostgresDatabase } from './postgres-database.js';
import { GrafeasRepository } from './repository.js';
import type { StoreCredentials } from './store-credentials.js';

export interface StoreOptions {
  /** Where to listen; port 0 picks a free one (tests). */
  readonly listen: { readonly host: string; readonly port: number };
  /** Directory of the embedded database (its files go to `<dataDir>/pglite`). Required without `databaseUrl`. */
  readonly dataDir?: string | null;
  /** `postgres://…`: keep everything in PostgreSQL instead. */
  readonly databaseUrl?: string | null;
  /**
   * Bearer tokens (`--tokens-file`) required on every /v1 request. Without them the store
   * refuses to listen anywhere but loopback.
   */
  readonly credentials?: StoreCredentials | null;
  /** Page-token key (`--page-token-key-file`); default: random, for this process only. */
  readonly pageTokens?: PageTokens;
  readonly logger: Logger;
  /** Largest request body; default 32 MiB. */
  readonly maxBodyBytes?: number;
  /** Clock and id source, replaceable in tests. */
  readonly service?: GrafeasServiceOptions;
}

export interface RunningStore {
  /** `http://host:port`, the base URL for clients (they add `/v1/...`). */
  readonly url: string;
  readonly engine: StoreDatabase['engine'];
  /** Stops accepting, ends open connections, closes the database. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Opens and migrates the database, then serves the Grafeas v1 REST subset. */
export async function startStore(options: StoreOptions): Promise<RunningStore> {
  const { logger } = options;
  const credentials = options.credentials ?? undefined;
  if (credentials === undefined && !isLoopback(options.listen.host)) {
    throw new InvalidOptionError(
      '--tokens-file',
      `is required to listen on ${options.listen.host}: without tokens anyone who reaches the store could write and delete provenance (unauthenticated, it listens on loopback only)`,
    );
  }
  credentials?.useLogger(logger);
  const db = await openDatabase(options);
  try {
    await migrate(db, logger);
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
  const service = new GrafeasService(new GrafeasRepository(db), {
    ...options.service,
    ...(options.pageTokens !== undefined ? { pageTokens: options.pageTokens } : {}),
  });
  const server = http.createServer(
    createStoreRequestHandler(service, {
      ...(credentials !== undefined ? { credentials } : {}),
      logger,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      healthCheck: async () => {
        await db.query('SELECT 1');
      },
    }),
  );
  try {
    await listenOn(server, options.listen.port, options.listen.host);
  } catch (error) {
    await db.close().catch(() => undefined);
    throw new InvalidOptionError(
      '--listen',
      `cannot listen on ${options.listen.host}:${options.listen.port}: ${(error as Error).message}`,
    );
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info(
    {
      url,
      engine: db.engine,
      database: options.databaseUrl
        ? redactDatabaseUrl(options.databaseUrl)
        : storeDirectory(options.dataDir!),
      authentication: credentials === undefined ? 'none (loopback only)' : 'bearer',
      ...(credentials !== undefined ? { tokens: credentials.summary() } : {}),
    },
    'grafeas store listening',
  );
  let closing: Promise<void> | undefined;
  return {
    url,
    engine: db.engine,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await db.close();
        logger.info('grafeas store stopped');
      })();
      return closing;
    },
  };
}

function openDatabase(options: StoreOptions): Promise<StoreDatabase> {
  if (options.databaseUrl) return openPostgresDatabase(options.databaseUrl, options.logger);
  if (!options.dataDir)
    throw new InvalidOptionError('--data-dir', 'is required unless --database-url is given');
  return openPgliteDatabase(storeDirectory(options.dataDir));
}

function storeDirectory(dataDir: string): string {
  return join(dataDir, 'pglite');
}

/** Literal loopback addresses and `localhost`: reachable from this host only. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) {
    // The URL parser writes every spelling of an address the same way (0:0::1 → ::1).
    const canonical = new URL(`http://[${host}]/`).hostname;
    return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:/.test(canonical);
  }
  return false;
}
