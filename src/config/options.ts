import { InvalidOptionError } from '../errors.js';
import type { Cidr } from './cidr.js';
import type { HostPattern } from './host-pattern.js';
import type { ListenAddress } from './option-kinds.js';
import { type CommandOptions, formatHelp, type OptionRow, parseOptions, together } from './option-table.js';
import type { PushRule } from './push-rule.js';

export type { ListenAddress } from './option-kinds.js';

/** Every setting of `provenance-proxy run`, validated. Nothing downstream re-checks these. */
export interface RunOptions {
  readonly listen: ListenAddress;
  readonly controlListen: ListenAddress;
  readonly caCertOut: string | null;
  readonly caBundleOut: string | null;
  readonly caCert: string | null;
  readonly caKey: string | null;
  readonly upstreamCa: readonly string[];
  readonly dataDir: string;
  readonly intercept: readonly HostPattern[];
  readonly tunnel: readonly HostPattern[];
  readonly logLevel: string;
  readonly shutdownGraceMs: number;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxManifestBytes: number;
  readonly leafCacheSize: number;
  readonly controlTokenFile: string | null;
  readonly signingKey: string | null;
  readonly signingKeyId: string | null;
  readonly builderId: string;
  readonly grafeasUrl: string | null;
  readonly grafeasProject: string | null;
  readonly grafeasTokenFile: string | null;
  readonly provenanceDir: string | null;
  readonly reportRetryBaseMs: number;
  readonly reportRetryMaxMs: number;
  readonly upstreamAnswerWaitMs: number;
  readonly maxConnections: number;
  readonly maxCaptureBytesTotal: number;
  readonly allowDestination: readonly Cidr[];
  readonly journalAnchorIntervalMs: number;
  readonly controlReadTokenFile: string | null;
  /** Transparent capture (issue 10). */
  readonly transparentListen: ListenAddress | null;
  readonly egressPolicy: 'open' | 'audit' | 'enforce';
  readonly egressAllow: readonly HostPattern[];
  /** `--push-allow`: repositories the build may write to; empty allows every push. */
  readonly pushAllow: readonly PushRule[];
  /** `--registry-auth`: a Docker config.json whose credentials the proxy presents for the build. */
  readonly registryAuth: string | null;
  /** `--attach-attestations`: store each signed image statement in the image's repository (cosign's `.att` tag). */
  readonly attachAttestations: boolean;
  /** Capture checks (issue 10): how often the proxy sends its canary through the capture rules; 0 = never (no canary traffic, no claim). */
  readonly captureCheckIntervalMs: number;
  /** The resolv.conf `capture-rules` read: the proxy computes the same rule set to know its canary. */
  readonly captureResolvConf: string;
}

/**
 * The table of `run`'s options: the parser, the PROVENANCE_PROXY_* variables, `--help` and the
 * table test (test/unit/config/option-tables.test.ts) all come from it, so they cannot drift apart.
 */
export const RUN_OPTIONS: readonly OptionRow<keyof RunOptions>[] = [
  {
    key: 'listen',
    flag: 'listen',
    kind: 'address',
    default: '127.0.0.1:3128',
    help: 'proxy listener (CONNECT and absolute-form http://)',
  },
  {
    key: 'controlListen',
    flag: 'control-listen',
    kind: 'address',
    default: '127.0.0.1:9464',
    help: 'control listener: /healthz /readyz /metrics /ca.pem /v1/*',
  },
  { key: 'dataDir', flag: 'data-dir', kind: 'path', default: './data', help: 'journal and state directory' },
  {
    key: 'caCertOut',
    flag: 'ca-cert-out',
    kind: 'path',
    default: null,
    help: 'write the CA certificate (never the key) here; default <data-dir>/ca.pem',
  },
  {
    key: 'caBundleOut',
    flag: 'ca-bundle-out',
    kind: 'path',
    default: null,
    help: 'also write the system roots plus the CA certificate here, for SSL_CERT_FILE in build containers',
  },
  {
    key: 'caCert',
    flag: 'ca-cert',
    kind: 'path',
    default: null,
    help: 'use this CA certificate (PEM) instead of minting one; needs --ca-key',
  },
  { key: 'caKey', flag: 'ca-key', kind: 'path', default: null, help: 'private key (PEM) of --ca-cert' },
  {
    key: 'upstreamCa',
    flag: 'upstream-ca',
    kind: 'list',
    value: 'PATH',
    default: [],
    help: 'extra PEM bundle trusted for upstream TLS (repeatable); verification is never off',
  },
  {
    key: 'intercept',
    flag: 'intercept',
    kind: 'patterns',
    default: ['*'],
    help: 'hosts whose TLS is terminated and observed (repeatable): *, host, *.domain, [:port]',
  },
  {
    key: 'tunnel',
    flag: 'tunnel',
    kind: 'patterns',
    default: [],
    help: 'hosts relayed blind, recorded as unobserved egress (repeatable; wins over --intercept)',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    kind: 'level',
    default: 'info',
    help: 'fatal, error, warn, info, debug, trace or silent',
  },
  {
    key: 'shutdownGraceMs',
    flag: 'shutdown-grace',
    kind: 'duration',
    default: '25s',
    help: 'on SIGTERM, how long in-flight exchanges may finish',
  },
  {
    key: 'headersTimeoutMs',
    flag: 'headers-timeout',
    kind: 'duration',
    default: '30s',
    help: 'a client must send a complete request head within this',
  },
  {
    key: 'idleTimeoutMs',
    flag: 'idle-timeout',
    kind: 'duration',
    default: '300s',
    help: 'close a connection with no traffic for this long',
  },
  {
    key: 'maxManifestBytes',
    flag: 'max-manifest-bytes',
    kind: 'bytes',
    default: '4MiB',
    help: 'largest manifest body kept for parsing; larger ones are recorded unparsed',
  },
  {
    key: 'leafCacheSize',
    flag: 'leaf-cache-size',
    kind: 'count',
    default: '1000',
    help: 'leaf certificates kept (one per host)',
  },
  {
    key: 'controlTokenFile',
    flag: 'control-token-file',
    kind: 'path',
    default: null,
    help: 'bearer token for every /v1 control endpoint; default: generated per start into <data-dir>/control-token (0600)',
  },
  {
    key: 'signingKey',
    flag: 'signing-key',
    kind: 'path',
    default: null,
    help: 'ECDSA P-256 or Ed25519 private key (PEM) signing provenance; ephemeral if unset',
  },
  {
    key: 'signingKeyId',
    flag: 'signing-keyid',
    kind: 'string',
    default: null,
    help: 'DSSE keyid; default sha256 fingerprint of the public key',
  },
  {
    key: 'builderId',
    flag: 'builder-id',
    kind: 'string',
    default: 'https://provenance-proxy.dev/builder/sidecar',
    help: 'SLSA builder.id recorded in provenance',
  },
  {
    key: 'grafeasUrl',
    flag: 'grafeas-url',
    kind: 'grafeas-url',
    default: null,
    help: 'Grafeas v1 REST base URL to report to',
  },
  {
    key: 'grafeasProject',
    flag: 'grafeas-project',
    kind: 'project-id',
    default: null,
    help: 'Grafeas project id (needed with --grafeas-url)',
  },
  {
    key: 'grafeasTokenFile',
    flag: 'grafeas-token-file',
    kind: 'path',
    default: null,
    help: 'bearer token file for Grafeas, re-read at each request',
  },
  {
    key: 'provenanceDir',
    flag: 'provenance-dir',
    kind: 'path',
    default: null,
    help: 'also write signed envelopes as .intoto.jsonl files here',
  },
  {
    key: 'reportRetryBaseMs',
    flag: 'report-retry-base',
    kind: 'duration',
    default: '500ms',
    help: 'first retry delay of a failed report (doubles per attempt, with full jitter)',
  },
  {
    key: 'reportRetryMaxMs',
    flag: 'report-retry-max',
    kind: 'duration',
    default: '60s',
    help: 'longest delay between retries of a failed report; reports are retried until delivered',
  },
  {
    key: 'upstreamAnswerWaitMs',
    flag: 'upstream-answer-wait',
    kind: 'duration',
    default: '30s',
    help: 'after a client left a PUT/POST/PATCH/DELETE it had sent whole, how long the registry answer is awaited for the record',
  },
  {
    key: 'maxConnections',
    flag: 'max-connections',
    kind: 'count',
    default: '1024',
    help: 'open client connections at once (plain, intercepted and blind tunnels); more are answered 503 and closed',
  },
  {
    key: 'maxCaptureBytesTotal',
    flag: 'max-capture-bytes-total',
    kind: 'bytes',
    default: '32MiB',
    help: 'body bytes all exchanges in flight may keep for parsing together (≥ --max-manifest-bytes); past it bodies are relayed and hashed, and recorded as not inspected',
  },
  {
    key: 'allowDestination',
    flag: 'allow-destination',
    kind: 'cidrs',
    default: [],
    help: 're-open a refused destination range (loopback, link-local, unspecified), e.g. 10.96.0.0/12 or ::1/128; repeatable',
  },
  {
    key: 'journalAnchorIntervalMs',
    flag: 'journal-anchor-interval',
    kind: 'duration',
    default: '30s',
    help: 'sign the journal chain head with the signing key this often (and at each finalize)',
  },
  {
    key: 'controlReadTokenFile',
    flag: 'control-read-token-file',
    kind: 'path',
    default: null,
    help: 'bearer token for the read-only /v1 views (images, unsigned provenance, observations, public key); never finalize or ?format=dsse; default: none',
  },
  {
    key: 'transparentListen',
    flag: 'transparent-listen',
    kind: 'address',
    default: null,
    help: 'also accept TCP that netfilter REDIRECTs here (see capture-rules); each connection goes to its original destination',
  },
  {
    key: 'egressPolicy',
    flag: 'egress-policy',
    kind: 'choice',
    choices: ['open', 'audit', 'enforce'],
    default: 'open',
    help: 'open: no policy; audit: let destinations outside --egress-allow through and flag them; enforce: refuse them (403 or close) before any byte goes upstream',
  },
  {
    key: 'egressAllow',
    flag: 'egress-allow',
    kind: 'patterns',
    default: [],
    help: 'destinations the egress policy allows (repeatable): host, *.domain, [:port]',
  },
  {
    key: 'pushAllow',
    flag: 'push-allow',
    kind: 'push-rules',
    default: [],
    help: 'REGISTRY/REPO-PATTERN the build may push to (repeatable; * within a path component, ** across; no port means 443); writes elsewhere are refused 403 before reaching the registry; none: all allowed',
  },
  {
    key: 'registryAuth',
    flag: 'registry-auth',
    kind: 'path',
    default: null,
    help: "Docker config.json (auths: auth, username/password, identitytoken) whose credentials the proxy presents to those registries in place of the client's, with per-request scoped tokens; re-read when it changes",
  },
  {
    key: 'attachAttestations',
    flag: 'attach-attestations',
    kind: 'switch',
    default: 'false',
    help: 'after each acknowledged push, store the signed per-image statement in its repository under sha256-<hex>.att (cosign verify-attestation --type slsaprovenance1 finds it), with --registry-auth credentials where the registry has some',
  },
  // Capture checks (issue 10): with --transparent-listen, the canary that proves the rules are live.
  {
    key: 'captureCheckIntervalMs',
    flag: 'capture-check-interval',
    kind: 'duration',
    default: '30s',
    help: 'with --transparent-listen: send the capture canary through the capture rules at start and this often; a missed canary withdraws the "egress complete" claim (0s: no checks at all, no canary traffic, and no claim)',
  },
  {
    key: 'captureResolvConf',
    flag: 'capture-resolv-conf',
    kind: 'path',
    default: '/etc/resolv.conf',
    help: 'the resolv.conf capture-rules read (its resolvers are part of the rule set the proxy checks)',
  },
];

const ENV_PREFIX = 'PROVENANCE_PROXY_';

export function envName(flag: string): string {
  return `${ENV_PREFIX}${flag.toUpperCase().replace(/-/g, '_')}`;
}

export const RUN_COMMAND: CommandOptions<RunOptions> = {
  command: 'run',
  usage: ['run [options]'],
  description: 'Starts the intercepting proxy and its control server.',
  rows: RUN_OPTIONS,
  envPrefix: ENV_PREFIX,
  check: (options) => {
    together('--ca-cert', options.caCert, '--ca-key', options.caKey);
    together('--grafeas-url', options.grafeasUrl, '--grafeas-project', options.grafeasProject);
    if (sameAddress(options.listen, options.controlListen)) {
      throw new InvalidOptionError('--control-listen', 'must differ from --listen');
    }
    if (options.maxCaptureBytesTotal < options.maxManifestBytes) {
      throw new InvalidOptionError(
        '--max-capture-bytes-total',
        'must be at least --max-manifest-bytes (one largest manifest must fit)',
      );
    }
  },
};

/** Parses argv and the environment (argv wins), then validates every value. Throws InvalidOptionError. */
export function parseRunOptions(argv: readonly string[], env: NodeJS.ProcessEnv): RunOptions {
  const parsed = parseOptions(RUN_COMMAND, argv, env);
  if (parsed === 'help') throw new InvalidOptionError('--help', 'is answered before options are parsed');
  const options = parsed.values;
  return { ...options, caCertOut: options.caCertOut ?? `${options.dataDir.replace(/\/$/, '')}/ca.pem` };
}

function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  return a.port !== 0 && a.port === b.port && a.host === b.host;
}

/** `--help` text for `run`, from the table. */
export function runHelp(): string {
  return formatHelp(RUN_COMMAND);
}
