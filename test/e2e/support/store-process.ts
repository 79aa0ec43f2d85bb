import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../support/free-port.js';
import { startService, stopChild } from '../../support/run-command.js';
import { cliPath } from './cli.js';

export interface StoreProcessOptions {
  /** Working directory: the log, and the PGlite data directory unless `databaseUrl` is given. */
  home: string;
  /** `--database-url postgres://…`: the store keeps everything in PostgreSQL. */
  databaseUrl?: string;
  /** More `provenance-proxy store` arguments (e.g. `--max-body-bytes`). */
  extraArgs?: string[];
  /** `--tokens-file`: bearer tokens, roles and projects (test/store/store-tokens.ts writes one). */
  tokensFile?: string;
}

/**
 * `provenance-proxy store` as a child process with a fixed port and data directory, so it can be
 * stopped (an outage) and started again as the same store at the same URL.
 */
export interface StoreProcess {
  /** `http://127.0.0.1:<port>`: the `--grafeas-url` for the proxy and the verifier. */
  readonly url: string;
  readonly logPath: string;
  /** Starts the store and waits (bounded) until `/healthz` answers 200. */
  start(): Promise<void>;
  /** SIGTERM and wait for the exit: the store closes its database cleanly. */
  stop(): Promise<void>;
  isRunning(): boolean;
}

/** The store was asked to start twice (a start failure is the launcher's ServiceStartError). */
export class StoreStartError extends Error {
  readonly code = 'ERR_TEST_STORE_START';
}

/** Reserves a port and prepares the store; nothing runs until `start()`. */
export async function prepareStore(options: StoreProcessOptions): Promise<StoreProcess> {
  await mkdir(options.home, { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logPath = join(options.home, 'store.log');
  const args = [
    cliPath(),
    'store',
    '--listen',
    `127.0.0.1:${port}`,
    ...(options.databaseUrl === undefined
      ? ['--data-dir', join(options.home, 'data')]
      : ['--database-url', options.databaseUrl]),
    ...(options.extraArgs ?? []),
    ...(options.tokensFile === undefined ? [] : ['--tokens-file', options.tokensFile]),
  ];
  let child: ChildProcess | undefined;
  const alive = (c: ChildProcess | undefined): c is ChildProcess =>
    c !== undefined && c.exitCode === null && c.signalCode === null;

  return {
    url,
    logPath,
    isRunning: () => alive(child),
    async start() {
      if (alive(child)) throw new StoreStartError('the store is already running');
      // A fresh PGlite directory is initialised in WebAssembly: tens of seconds on a busy machine.
      child = await startService(process.execPath, args, {
        logPath,
        what: `the store's /healthz on ${url}`,
        ready: async () => {
          const response = await fetch(`${url}/healthz`);
          await response.arrayBuffer();
          return response.status === 200;
        },
        attempts: 1200,
        intervalMs: 50,
      });
    },
    async stop() {
      if (alive(child)) await stopChild(child);
    },
  };
}
