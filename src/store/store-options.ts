import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseListenAddress } from '../config/options.js';
import { InvalidOptionError } from '../errors.js';
import { MIN_PAGE_TOKEN_KEY_BYTES, PageTokens } from './page-token.js';
import { StoreCredentials } from './store-credentials.js';

/** Settings of `provenance-proxy store`, validated; tokens and key already read from their files. */
export interface StoreCommandOptions {
  readonly listen: { readonly host: string; readonly port: number };
  readonly dataDir: string | null;
  readonly databaseUrl: string | null;
  /** `--tokens-file`, loaded; read again when it changes. */
  readonly credentials: StoreCredentials | null;
  /** `--page-token-key-file`, loaded; default a random key for this process. */
  readonly pageTokens: PageTokens;
  readonly logLevel: string;
  /** Largest request body accepted, in bytes; null: the store's default (32 MiB). */
  readonly maxBodyBytes: number | null;
}

export const STORE_HELP = `Usage: provenance-proxy store --listen HOST:PORT --data-dir DIR [options]

Serves the Grafeas v1 REST subset provenance-proxy writes to (notes and occurrences,
create / batchCreate / get / list, occurrence delete; no updates). See docs/grafeas.md.

Options:
  --listen HOST:PORT       where to listen (default 127.0.0.1:8080; IPv6 in brackets)
  --data-dir DIR           embedded database (PGlite) directory; required without --database-url
  --database-url URL       postgres://user:password@host:port/db: use PostgreSQL instead
  --tokens-file PATH       bearer tokens (JSON): each with a name, a role (reader: list/get;
                           writer: also create; admin: also delete) and its projects; required
                           to listen on anything but loopback. Re-read when it changes.
  --page-token-key-file P  secret (32+ bytes) sealing page tokens, for replicas sharing one
                           database; default a random key per process
  --log-level LEVEL        trace, debug, info, warn, error (default info)
  --max-body-bytes N       largest request body accepted (default 33554432; at least 1048576,
                           the most a provenance-proxy sink sends in one request)
  --help                   show this help
`;

/** What one sink request may carry (REQUEST_BUDGET_BYTES in reporters/grafeas-sink.ts): a smaller store limit would refuse reports. */
const MIN_BODY_BYTES = 1024 * 1024;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Parses and checks the arguments once; every rule broken names its option. `undefined` means --help. */
export async function parseStoreArgs(argv: readonly string[]): Promise<StoreCommandOptions | undefined> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string' },
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        'tokens-file': { type: 'string' },
        'page-token-key-file': { type: 'string' },
        'log-level': { type: 'string' },
        'max-body-bytes': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new InvalidOptionError('store', (error as Error).message);
  }
  if (values.help === true) return undefined;
  const listen = parseListenAddress('--listen', (values.listen as string | undefined) ?? '127.0.0.1:8080');
  const dataDir = nonEmpty(values['data-dir'], '--data-dir');
  const databaseUrl = nonEmpty(values['database-url'], '--database-url');
  if (databaseUrl !== null && !/^postgres(?:ql)?:\/\/[^\s]+$/.test(databaseUrl)) {
    throw new InvalidOptionError('--database-url', 'must be a postgres:// or postgresql:// URL');
  }
  if (dataDir === null && databaseUrl === null) {
    throw new InvalidOptionError('--data-dir', 'is required unless --database-url is given');
  }
  const tokensFile = nonEmpty(values['tokens-file'], '--tokens-file');
  const keyFile = nonEmpty(values['page-token-key-file'], '--page-token-key-file');
  const logLevel = (values['log-level'] as string | undefined) ?? 'info';
  if (!LOG_LEVELS.includes(logLevel))
    throw new InvalidOptionError('--log-level', `must be one of ${LOG_LEVELS.join(', ')}`);
  const maxBody = nonEmpty(values['max-body-bytes'], '--max-body-bytes');
  const maxBodyBytes = maxBody === null ? null : Number(maxBody);
  if (
    maxBodyBytes !== null &&
    !(/^\d+$/.test(maxBody!) && maxBodyBytes >= MIN_BODY_BYTES && Number.isSafeInteger(maxBodyBytes))
  ) {
    throw new InvalidOptionError('--max-body-bytes', `must be a whole number of bytes >= ${MIN_BODY_BYTES}`);
  }
  return {
    maxBodyBytes,
    listen,
    dataDir,
    databaseUrl,
    credentials: tokensFile === null ? null : StoreCredentials.load(tokensFile),
    pageTokens: keyFile === null ? new PageTokens() : new PageTokens(await readPageTokenKey(keyFile)),
    logLevel,
  };
}

function nonEmpty(value: string | boolean | undefined, option: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.trim() === '')
    throw new InvalidOptionError(option, 'must not be empty');
  return value;
}

async function readPageTokenKey(path: string): Promise<Buffer> {
  let key: Buffer;
  try {
    key = await readFile(path);
  } catch (error) {
    throw new InvalidOptionError(
      '--page-token-key-file',
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (key.length < MIN_PAGE_TOKEN_KEY_BYTES) {
    throw new InvalidOptionError(
      '--page-token-key-file',
      `${path} must hold at least ${MIN_PAGE_TOKEN_KEY_BYTES} bytes (e.g. head -c 32 /dev/urandom)`,
    );
  }
  return key;
}
