import { InvalidOptionError } from '../errors.js';
import type { ListenAddress } from './option-kinds.js';
import type { CommandOptions } from './option-table.js';

/** What one sink request may carry (REQUEST_BUDGET_BYTES in reporters/grafeas-sink.ts): a smaller store limit would refuse reports. */
export const MIN_STORE_BODY_BYTES = 1024 * 1024;

/** `provenance-proxy store` as given; the files are read by src/store/store-options.ts. */
export interface StoreArguments {
  readonly listen: ListenAddress;
  readonly dataDir: string | null;
  readonly databaseUrl: string | null;
  readonly tokensFile: string | null;
  readonly pageTokenKeyFile: string | null;
  readonly logLevel: string;
  readonly maxBodyBytes: number | null;
}

export const STORE_COMMAND: CommandOptions<StoreArguments> = {
  command: 'store',
  usage: ['store --listen HOST:PORT --data-dir DIR [options]'],
  description: `Serves the Grafeas v1 REST subset provenance-proxy writes to (notes and occurrences,
create / batchCreate / get / list, occurrence delete; no updates). See docs/grafeas.md.`,
  rows: [
    { key: 'listen', flag: 'listen', kind: 'address', default: '127.0.0.1:8080', help: 'where to listen' },
    {
      key: 'dataDir',
      flag: 'data-dir',
      kind: 'path',
      default: null,
      help: 'embedded database (PGlite) directory; required without --database-url',
    },
    {
      key: 'databaseUrl',
      flag: 'database-url',
      kind: 'postgres-url',
      default: null,
      help: 'postgres://user:password@host:port/db: use PostgreSQL instead',
    },
    {
      key: 'tokensFile',
      flag: 'tokens-file',
      kind: 'path',
      default: null,
      help: 'bearer tokens (JSON): each with a name, a role (reader: list/get; writer: also create; admin: also delete) and its projects; required to listen on anything but loopback. Re-read when it changes',
    },
    {
      key: 'pageTokenKeyFile',
      flag: 'page-token-key-file',
      kind: 'path',
      default: null,
      help: 'secret (32+ bytes) sealing page tokens, for replicas sharing one database; default a random key per process',
    },
    { key: 'logLevel', flag: 'log-level', kind: 'level', default: 'info', help: 'least severe level logged' },
    {
      key: 'maxBodyBytes',
      flag: 'max-body-bytes',
      kind: 'bytes',
      min: MIN_STORE_BODY_BYTES,
      default: null,
      help: `largest request body accepted (default 33554432; at least ${MIN_STORE_BODY_BYTES}, the most a provenance-proxy sink sends in one request)`,
    },
  ],
  check: (options) => {
    if (options.dataDir === null && options.databaseUrl === null) {
      throw new InvalidOptionError('--data-dir', 'is required unless --database-url is given');
    }
  },
};
