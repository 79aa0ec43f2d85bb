import { InvalidOptionError } from '../errors.js';
import type { CommandOptions } from './option-table.js';

export interface CaArguments {
  readonly create: boolean;
  readonly out: string | null;
  readonly days: number;
  readonly control: string;
}

export const CA_COMMAND: CommandOptions<CaArguments> = {
  command: 'ca',
  usage: ['ca [--create --out DIR [--days N]] [--control URL]'],
  description: `Without --create: prints the CA certificate of a running proxy (GET <control>/ca.pem).

With --create: mints a CA pair for a Kubernetes Secret and writes DIR/tls.crt and
DIR/tls.key (mode 0600). Use it when several pods must share one CA; otherwise let
each pod mint its own in memory (the default of 'run').
  kubectl create secret tls provenance-proxy-ca --cert=DIR/tls.crt --key=DIR/tls.key`,
  rows: [
    { key: 'create', flag: 'create', kind: 'switch', default: 'false', help: 'mint a new CA pair' },
    {
      key: 'out',
      flag: 'out',
      kind: 'path',
      value: 'DIR',
      default: null,
      help: 'where to write tls.crt and tls.key (required with --create)',
    },
    { key: 'days', flag: 'days', kind: 'count', min: 1, max: 3650, default: '90', help: 'validity in days' },
    {
      key: 'control',
      flag: 'control',
      kind: 'url',
      env: 'PROVENANCE_PROXY_CONTROL_URL',
      default: 'http://127.0.0.1:9464',
      help: 'control server of a running proxy',
    },
  ],
  check: (options) => {
    if (options.create && options.out === null)
      throw new InvalidOptionError('--out', 'required with --create');
  },
};
