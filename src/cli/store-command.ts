import type { Logger } from 'pino';
import { createLogger } from '../log/logger.js';
import { type RunningStore, startStore } from '../store/start-store.js';
import { parseStoreArgs, STORE_HELP } from '../store/store-options.js';

export interface StoreCommandIo {
  /** Logger to use instead of one on stdout at --log-level. */
  readonly logger?: Logger;
  /** Stops the store when aborted (besides SIGTERM and SIGINT). */
  readonly signal?: AbortSignal;
  /** Called once the store listens. */
  readonly onListening?: (store: RunningStore) => void;
  readonly stdout?: NodeJS.WritableStream;
}

/**
 * `provenance-proxy store …`: runs the Grafeas v1 store until SIGTERM, SIGINT or `io.signal`,
 * then closes it (in-flight requests finish, the database is closed cleanly) and resolves.
 */
export async function runStoreCommand(argv: string[], io: StoreCommandIo = {}): Promise<void> {
  const options = await parseStoreArgs(argv);
  if (options === undefined) {
    (io.stdout ?? process.stdout).write(STORE_HELP);
    return;
  }
  const logger = io.logger ?? createLogger(options.logLevel);
  const store = await startStore({
    listen: options.listen,
    dataDir: options.dataDir,
    databaseUrl: options.databaseUrl,
    credentials: options.credentials,
    pageTokens: options.pageTokens,
    logger,
    ...(options.maxBodyBytes !== null ? { maxBodyBytes: options.maxBodyBytes } : {}),
  });
  io.onListening?.(store);
  await new Promise<void>((resolve) => {
    const stop = (reason: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      io.signal?.removeEventListener('abort', onAbort);
      logger.info({ reason }, 'grafeas store stopping');
      resolve();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    const onAbort = () => stop('aborted');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    if (io.signal?.aborted) stop('aborted');
    else io.signal?.addEventListener('abort', onAbort, { once: true });
  });
  await store.close();
}
