import { InvalidOptionError } from '../errors.js';
import type { CommandOptions } from './option-table.js';

export interface JournalVerifyArguments {
  readonly dataDir: string | null;
  readonly names: readonly string[];
  readonly files: readonly string[];
  readonly publicKeys: readonly string[];
  readonly requireSealed: boolean;
  readonly json: boolean;
}

export const JOURNAL_VERIFY_COMMAND: CommandOptions<JournalVerifyArguments> = {
  command: 'journal verify',
  usage: [
    'journal verify (--data-dir DIR [--name FILE]... | --file PATH...)',
    '                      [--public-key PEM... [--require-sealed]] [--json]',
  ],
  description: `Checks every line's hash and the chain of a journal, read-only; with --public-key, also the
signed anchors of the chain head (a rewritten chain, and with --require-sealed a cut tail).`,
  rows: [
    {
      key: 'dataDir',
      flag: 'data-dir',
      kind: 'path',
      value: 'DIR',
      default: null,
      help: 'check the observation and outbox journals in DIR (those present)',
    },
    {
      key: 'names',
      flag: 'name',
      kind: 'file-names',
      default: [],
      help: 'with --data-dir: check DIR/FILE instead',
    },
    { key: 'files', flag: 'file', kind: 'list', value: 'PATH', default: [], help: 'check this journal file' },
    {
      key: 'publicKeys',
      flag: 'public-key',
      kind: 'list',
      value: 'PEM',
      default: [],
      help: "also check the journal's signed anchors with this key; applies to the observation journal and to every --file",
    },
    {
      key: 'requireSealed',
      flag: 'require-sealed',
      kind: 'switch',
      default: 'false',
      help: 'with --public-key: the journal must end with an anchor of all before it (written at finalize and at a clean stop); detects a cut tail',
    },
    {
      key: 'json',
      flag: 'json',
      kind: 'switch',
      default: 'false',
      help: 'print {"journals":[report...]} instead of a summary',
    },
  ],
  epilogue:
    'Exit codes (docs/errors.md): 0 intact, 11 broken, tampered or unreadable, 12 torn last line only, 2 usage error.',
  check: (options) => {
    if ((options.dataDir === null) === (options.files.length === 0))
      throw new InvalidOptionError('--data-dir', 'give either --data-dir or --file');
    if (options.names.length > 0 && options.dataDir === null)
      throw new InvalidOptionError('--name', 'needs --data-dir');
    if (options.requireSealed && options.publicKeys.length === 0)
      throw new InvalidOptionError('--require-sealed', 'needs --public-key');
  },
};
