import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseListenAddress } from '../config/options.js';
import { InvalidOptionError } from '../errors.js';

/** Settings of `provenance-proxy store`, validated; the token already read from its file. */
export interface StoreCommandOptions {
  readonly listen: { readonly host: string; readonly port: number };
  readonly dataDir: string | null;
  readonly databaseUrl: string | null;
  readonly token: string | null;
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
  --token-file PATH        require "Authorization: Bearer <token>" with the token in this file
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
        'token-file': { type: 'string' },
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
  const tokenFile = nonEmpty(values['token-file'], '--token-file');
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
    token: tokenFile === null ? null : await readToken(tokenFile),
    logLevel,
  };
}

function nonEmpty(value: string | boolean | undefined, option: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.trim() === '')
    throw new InvalidOptionError(option, 'must not be empty');
  return value;
}

async function readToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new InvalidOptionError(
      '--token-file',
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token)) {
    throw new InvalidOptionError(
      '--token-file',
      `${path} must hold one token of at least 16 characters, without spaces`,
    );
  }
  return token;
}
