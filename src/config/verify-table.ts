import { InvalidOptionError } from '../errors.js';
import type { CommandOptions } from './option-table.js';

export interface VerifyArguments {
  readonly publicKeys: readonly string[];
  readonly envelope: string | null;
  readonly grafeasUrl: string | null;
  readonly grafeasProject: string | null;
  readonly grafeasTokenFile: string | null;
  readonly requireFinished: boolean;
  readonly builderId: string | null;
  readonly json: boolean;
}

export const VERIFY_COMMAND: CommandOptions<VerifyArguments> = {
  command: 'verify',
  usage: [
    'verify <registry>/<repository>@sha256:<hex> --public-key PATH',
    '         (--envelope FILE | --grafeas-url URL --grafeas-project P [--grafeas-token-file F])',
    '         [--require-finished] [--builder-id ID] [--json]',
  ],
  description: `Verifies the provenance of one image: a DSSE signature by a trusted key over the payload bytes as
received, an in-toto v1 statement with a SLSA v1 predicate, and the digest among its subjects.`,
  positionals: true,
  rows: [
    {
      key: 'publicKeys',
      flag: 'public-key',
      kind: 'list',
      value: 'PATH',
      default: [],
      help: 'PEM public key (ECDSA P-256 or Ed25519) to trust; repeat for several; at least one',
    },
    {
      key: 'envelope',
      flag: 'envelope',
      kind: 'path',
      default: null,
      help: 'a DSSE envelope (JSON) or an .intoto.jsonl file with one per line',
    },
    {
      key: 'grafeasUrl',
      flag: 'grafeas-url',
      kind: 'grafeas-url',
      default: null,
      help: 'a Grafeas v1 store (ours, or Container Analysis)',
    },
    {
      key: 'grafeasProject',
      flag: 'grafeas-project',
      kind: 'project-id',
      default: null,
      help: 'the project holding the occurrences',
    },
    {
      key: 'grafeasTokenFile',
      flag: 'grafeas-token-file',
      kind: 'path',
      default: null,
      help: 'bearer token for the store, read when used',
    },
    {
      key: 'requireFinished',
      flag: 'require-finished',
      kind: 'switch',
      default: 'false',
      help: 'accept only the statement of a finished build (finishedOn set at finalize); refuse image statements and snapshots of a running build',
    },
    {
      key: 'builderId',
      flag: 'builder-id',
      kind: 'string',
      value: 'ID',
      default: null,
      help: 'accept only statements whose runDetails.builder.id is exactly ID',
    },
    {
      key: 'json',
      flag: 'json',
      kind: 'switch',
      default: 'false',
      help: 'print the result as JSON on stdout',
    },
  ],
  epilogue: `Exit codes: 0 verified, 2 usage, 3 input unavailable (file, key or store), 4 no provenance for the
image, 5 no envelope signed by a given key, 6 not an in-toto v1 / SLSA v1 statement, 7 the digest is not
a subject, 8 refused by --require-finished or --builder-id. On failure a line 'verify: FAILED: <reason>' goes to stderr. All statuses: docs/errors.md.`,
  check: (options) => {
    if (options.publicKeys.length === 0) {
      throw new InvalidOptionError('--public-key', 'is required: verification needs a key to trust');
    }
    if ((options.envelope === null) === (options.grafeasUrl === null)) {
      throw new InvalidOptionError(
        '--envelope',
        'give either --envelope FILE or --grafeas-url URL (exactly one)',
      );
    }
    if (
      options.grafeasUrl === null &&
      (options.grafeasProject !== null || options.grafeasTokenFile !== null)
    ) {
      throw new InvalidOptionError(
        options.grafeasProject !== null ? '--grafeas-project' : '--grafeas-token-file',
        'needs --grafeas-url',
      );
    }
    if (options.grafeasUrl !== null && options.grafeasProject === null) {
      throw new InvalidOptionError('--grafeas-project', 'is required with --grafeas-url');
    }
  },
};
