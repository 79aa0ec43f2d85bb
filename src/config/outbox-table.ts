import { InvalidOptionError } from '../errors.js';
import { type CommandOptions, together } from './option-table.js';

export interface OutboxListArguments {
  readonly dataDir: string;
  readonly json: boolean;
}

export interface OutboxResendArguments {
  readonly dataDir: string;
  readonly ids: readonly string[];
  readonly grafeasUrl: string | null;
  readonly grafeasProject: string | null;
  readonly grafeasTokenFile: string | null;
  readonly grafeasCa: readonly string[];
  readonly provenanceDir: string | null;
  readonly attachAttestations: boolean;
  readonly registryAuth: string | null;
  readonly upstreamCa: readonly string[];
}

const DATA_DIR = {
  flag: 'data-dir',
  kind: 'path',
  value: 'DIR',
  required: true,
  default: null,
  help: "the proxy's data directory, holding dead-letter.jsonl",
} as const;

export const OUTBOX_EXIT_TEXT = `Exit (docs/errors.md): 0 ok (resend: every chosen letter delivered), 13 a letter failed, is unknown or
its sink not given, or the file has unreadable lines, 2 usage.`;

export const OUTBOX_LIST_COMMAND: CommandOptions<OutboxListArguments> = {
  command: 'outbox list',
  usage: ['outbox list --data-dir DIR [--json]'],
  description: `Dead letters are reports a sink refused as they are (the store proved the payload malformed or too
large) or that passed the retry max age. They are kept in DIR/dead-letter.jsonl and never deleted.
list shows every dead letter: id, state (parked, or resent and when), sink, report, the store's answer.`,
  rows: [
    { key: 'dataDir', ...DATA_DIR },
    { key: 'json', flag: 'json', kind: 'switch', default: 'false', help: 'print JSON instead of lines' },
  ],
  epilogue: OUTBOX_EXIT_TEXT,
};

export const OUTBOX_RESEND_COMMAND: CommandOptions<OutboxResendArguments> = {
  command: 'outbox resend',
  usage: [
    'outbox resend --data-dir DIR [--id ID]...',
    '              [--grafeas-url U --grafeas-project P [--grafeas-token-file F] [--grafeas-ca F]]',
    '              [--provenance-dir D]',
    '              [--attach-attestations [--registry-auth F] [--upstream-ca F]...]',
  ],
  description: `resend delivers the parked dead letters (or those named by --id, also if resent before) again, to the
sinks given here (grafeas for letters of the grafeas sink, --provenance-dir for the file sink,
--attach-attestations for registry-attestations: stored in the image's repository with these
credentials and trust, as run does), and records each success as resent. Safe to repeat: sinks skip
what they already hold.`,
  rows: [
    { key: 'dataDir', ...DATA_DIR },
    { key: 'ids', flag: 'id', kind: 'list', value: 'ID', default: [], help: 'resend this dead letter' },
    {
      key: 'grafeasUrl',
      flag: 'grafeas-url',
      kind: 'grafeas-url',
      default: null,
      help: 'Grafeas v1 REST base URL',
    },
    {
      key: 'grafeasProject',
      flag: 'grafeas-project',
      kind: 'project-id',
      default: null,
      help: 'Grafeas project id',
    },
    {
      key: 'grafeasTokenFile',
      flag: 'grafeas-token-file',
      kind: 'path',
      default: null,
      help: 'bearer token file for Grafeas',
    },
    {
      key: 'grafeasCa',
      flag: 'grafeas-ca',
      kind: 'list',
      value: 'PATH',
      default: [],
      help: 'extra PEM bundle trusted for the Grafeas store',
    },
    {
      key: 'provenanceDir',
      flag: 'provenance-dir',
      kind: 'path',
      value: 'DIR',
      default: null,
      help: 'resend the file sink’s letters into this directory',
    },
    {
      key: 'attachAttestations',
      flag: 'attach-attestations',
      kind: 'switch',
      default: 'false',
      help: "store the registry-attestations letters in their images' repositories",
    },
    {
      key: 'registryAuth',
      flag: 'registry-auth',
      kind: 'path',
      default: null,
      help: 'Docker config.json with the registry credentials to attach with',
    },
    {
      key: 'upstreamCa',
      flag: 'upstream-ca',
      kind: 'list',
      value: 'PATH',
      default: [],
      help: 'extra PEM bundle trusted for registries (repeatable)',
    },
  ],
  epilogue: OUTBOX_EXIT_TEXT,
  check: (options) => {
    together('--grafeas-url', options.grafeasUrl, '--grafeas-project', options.grafeasProject);
    if (options.grafeasUrl === null && options.provenanceDir === null && !options.attachAttestations) {
      throw new InvalidOptionError(
        '--grafeas-url',
        'give a sink to resend to: --grafeas-url/--grafeas-project, --provenance-dir or --attach-attestations',
      );
    }
  },
};
