import { InvalidOptionError } from '../errors.js';
import type { ListenAddress } from './option-kinds.js';
import type { CommandOptions } from './option-table.js';

export interface InjectArguments {
  readonly config: string | null;
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
  readonly listen: ListenAddress;
  readonly reloadIntervalMs: number;
  readonly logLevel: string;
  readonly bootstrapCerts: string | null;
  readonly service: string;
  readonly namespace: string;
  readonly hosts: readonly string[];
  readonly days: number;
}

export const INJECT_COMMAND: CommandOptions<InjectArguments> = {
  command: 'inject',
  usage: [
    'inject --config FILE --tls-cert FILE --tls-key FILE [--listen H:P]',
    '                         [--reload-interval DURATION] [--log-level LEVEL]',
    'inject --bootstrap-certs DIR [--service NAME] [--namespace NS]',
    '                         [--host NAME_OR_IP]... [--days N]',
  ],
  description: `Serves the sidecar injector: a mutating admission webhook (admission.k8s.io/v1, JSONPatch)
over TLS. POST /mutate/pod is for pods labelled provenance-proxy.dev/inject=true,
POST /mutate/namespace for every pod of a namespace so labelled (a pod label "false" opts
out there). GET /healthz and /readyz answer 200. See docs/injector.md.

The config file (JSON) is reloaded when it changes; a bad reload keeps the last good
config and logs why. The TLS pair is reloaded too (cert-manager renews it in place).

--bootstrap-certs DIR: the alternative to cert-manager. Mints a one-off CA, signs a serving
certificate for the webhook Service with it, writes DIR/tls.crt, DIR/tls.key (0600) and
DIR/ca.crt, forgets the CA key, and prints the caBundle (base64) on stdout.`,
  rows: [
    { key: 'config', flag: 'config', kind: 'path', default: null, help: 'injector configuration (JSON)' },
    { key: 'tlsCert', flag: 'tls-cert', kind: 'path', default: null, help: 'serving certificate (PEM)' },
    { key: 'tlsKey', flag: 'tls-key', kind: 'path', default: null, help: 'its private key (PEM)' },
    {
      key: 'listen',
      flag: 'listen',
      kind: 'address',
      default: '0.0.0.0:8443',
      help: 'where the webhook listens',
    },
    {
      key: 'reloadIntervalMs',
      flag: 'reload-interval',
      kind: 'duration',
      default: '2s',
      help: 'how often the files are checked',
    },
    { key: 'logLevel', flag: 'log-level', kind: 'level', default: 'info', help: 'least severe level logged' },
    {
      key: 'bootstrapCerts',
      flag: 'bootstrap-certs',
      kind: 'path',
      value: 'DIR',
      default: null,
      help: 'write a self-signed serving pair and print its caBundle',
    },
    {
      key: 'service',
      flag: 'service',
      kind: 'string',
      value: 'NAME',
      default: 'provenance-proxy-injector',
      help: "the webhook's Service",
    },
    {
      key: 'namespace',
      flag: 'namespace',
      kind: 'string',
      value: 'NS',
      default: 'provenance-system',
      help: 'its namespace',
    },
    {
      key: 'hosts',
      flag: 'host',
      kind: 'list',
      value: 'NAME_OR_IP',
      default: [],
      help: 'an extra name or IP in the certificate',
    },
    { key: 'days', flag: 'days', kind: 'count', min: 1, max: 3650, default: '365', help: 'validity in days' },
  ],
  check: (options) => {
    if (options.bootstrapCerts !== null) return;
    if (options.config === null)
      throw new InvalidOptionError('--config', 'is required (or --bootstrap-certs)');
    if (options.tlsCert === null)
      throw new InvalidOptionError('--tls-cert', 'is required (or --bootstrap-certs)');
    if (options.tlsKey === null)
      throw new InvalidOptionError('--tls-key', 'is required (or --bootstrap-certs)');
  },
};
