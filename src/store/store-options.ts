import { readFile } from 'node:fs/promises';
import { formatHelp, parseOptions } from '../config/option-table.js';
import { STORE_COMMAND } from '../config/store-table.js';
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

export const STORE_HELP = formatHelp(STORE_COMMAND);

/** Parses and checks the arguments once; every rule broken names its option. `undefined` means --help. */
export async function parseStoreArgs(argv: readonly string[]): Promise<StoreCommandOptions | undefined> {
  const parsed = parseOptions(STORE_COMMAND, argv);
  if (parsed === 'help') return undefined;
  const { tokensFile, pageTokenKeyFile, ...options } = parsed.values;
  return {
    ...options,
    credentials: tokensFile === null ? null : StoreCredentials.load(tokensFile),
    pageTokens:
      pageTokenKeyFile === null ? new PageTokens() : new PageTokens(await readPageTokenKey(pageTokenKeyFile)),
  };
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
