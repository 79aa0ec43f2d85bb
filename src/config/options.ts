import { parseArgs } from 'node:util';
import { InvalidOptionError } from '../errors.js';
import { type Cidr, parseCidr } from './cidr.js';
import { type HostPattern, parseHostPattern } from './host-pattern.js';
import { type PushRule, parsePushRule } from './push-rule.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

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

type Kind =
  | 'string'
  | 'list'
  | 'address'
  | 'duration'
  | 'bytes'
  | 'count'
  | 'path'
  | 'url'
  | 'level'
  | 'patterns'
  | 'cidrs'
  | 'push-rules'
  | 'switch';

interface OptionSpec {
  readonly key: keyof RunOptions;
  readonly flag: string;
  readonly kind: Kind;
  readonly default: string | readonly string[] | null;
  readonly help: string;
}

/**
 * The one table of options: the parser, the environment variables, `--help`
 * and docs/configuration.md all come from it, so they cannot drift apart.
 */
export const RUN_OPTIONS: readonly OptionSpec[] = [
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
    help: 'fatal, error, warn, info, debug or trace',
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
    kind: 'url',
    default: null,
    help: 'Grafeas v1 REST base URL to report to',
  },
  {
    key: 'grafeasProject',
    flag: 'grafeas-project',
    kind: 'string',
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
    kind: 'string',
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

export function envName(flag: string): string {
  return `PROVENANCE_PROXY_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Parses argv and the environment (argv wins), then validates every value. Throws InvalidOptionError. */
export function parseRunOptions(argv: readonly string[], env: NodeJS.ProcessEnv): RunOptions {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        RUN_OPTIONS.map((o) =>
          o.kind === 'switch'
            ? [o.flag, { type: 'boolean' as const }]
            : [o.flag, { type: 'string' as const, multiple: isMultiple(o.kind) }],
        ),
      ),
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    const message = (error as Error).message;
    const flag = /'(--[a-z-]+)/.exec(message)?.[1] ?? 'arguments';
    throw new InvalidOptionError(flag, message.replace(/\. To specify.*$/s, ''));
  }
  const values: Record<string, unknown> = {};
  for (const spec of RUN_OPTIONS) {
    const given = parsed.values[spec.flag] as string | string[] | boolean | undefined;
    const fromArgv = typeof given === 'boolean' ? String(given) : given;
    const fromEnv = env[envName(spec.flag)];
    let raw: string | readonly string[] | null = spec.default;
    if (fromArgv !== undefined) raw = fromArgv;
    else if (fromEnv !== undefined && fromEnv !== '')
      raw = isMultiple(spec.kind) ? splitList(fromEnv) : fromEnv;
    values[spec.key] = convert(spec, raw);
  }
  const options = values as unknown as RunOptions;
  if (!['open', 'audit', 'enforce'].includes(options.egressPolicy)) {
    throw new InvalidOptionError('--egress-policy', 'must be one of open, audit, enforce');
  }
  if ((options.caCert === null) !== (options.caKey === null)) {
    throw new InvalidOptionError(
      options.caCert ? '--ca-key' : '--ca-cert',
      '--ca-cert and --ca-key go together',
    );
  }
  if ((options.grafeasUrl === null) !== (options.grafeasProject === null)) {
    throw new InvalidOptionError(
      options.grafeasUrl ? '--grafeas-project' : '--grafeas-url',
      '--grafeas-url and --grafeas-project go together',
    );
  }
  if (sameAddress(options.listen, options.controlListen)) {
    throw new InvalidOptionError('--control-listen', 'must differ from --listen');
  }
  if (options.maxCaptureBytesTotal < options.maxManifestBytes) {
    throw new InvalidOptionError(
      '--max-capture-bytes-total',
      'must be at least --max-manifest-bytes (one largest manifest must fit)',
    );
  }
  return { ...options, caCertOut: options.caCertOut ?? `${options.dataDir.replace(/\/$/, '')}/ca.pem` };
}

function isMultiple(kind: Kind): boolean {
  return kind === 'list' || kind === 'patterns' || kind === 'cidrs' || kind === 'push-rules';
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function convert(spec: OptionSpec, raw: string | readonly string[] | null): unknown {
  const option = `--${spec.flag}`;
  if (raw === null) return null;
  if (Array.isArray(raw)) {
    if (spec.kind === 'patterns') return raw.map((p) => parseHostPattern(option, p));
    if (spec.kind === 'cidrs')
      return raw.map((p) => {
        const cidr = parseCidr(p);
        if (cidr === null)
          throw new InvalidOptionError(option, `"${p}" must be an IP address or CIDR like 10.0.0.0/8`);
        return cidr;
      });
    if (spec.kind === 'push-rules') return raw.map((p) => parsePushRule(option, p));
    return raw.map((p) => {
      if (p === '') throw new InvalidOptionError(option, 'must not be empty');
      return p;
    });
  }
  const text = raw as string;
  switch (spec.kind) {
    case 'address':
      return parseListenAddress(option, text);
    case 'duration':
      return parseDuration(option, text);
    case 'bytes':
      return parseByteSize(option, text);
    case 'count': {
      if (!/^\d+$/.test(text) || Number(text) < 1)
        throw new InvalidOptionError(option, 'must be a whole number ≥ 1');
      return Number(text);
    }
    case 'switch':
      if (text !== 'true' && text !== 'false') throw new InvalidOptionError(option, 'must be true or false');
      return text === 'true';
    case 'level':
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(text)) {
        throw new InvalidOptionError(option, 'must be one of fatal, error, warn, info, debug, trace');
      }
      return text;
    case 'url': {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        throw new InvalidOptionError(option, 'must be an absolute http:// or https:// URL');
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        throw new InvalidOptionError(option, 'must be an absolute http:// or https:// URL');
      }
      if (url.username || url.password) {
        throw new InvalidOptionError(option, 'must not carry credentials; use the token file option');
      }
      return text.replace(/\/+$/, '');
    }
    default:
      if (text === '') throw new InvalidOptionError(option, 'must not be empty');
      return text;
  }
}

export function parseListenAddress(option: string, text: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65535) {
    throw new InvalidOptionError(option, `"${text}" must be HOST:PORT (port 0-65535, IPv6 in brackets)`);
  }
  return { host: match[1] ?? match[2]!, port };
}

export function parseDuration(option: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) throw new InvalidOptionError(option, `"${text}" must be a duration like 500ms, 30s, 5m or 1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * unit);
}

export function parseByteSize(option: string, text: string): number {
  const match = /^(\d+)(B|KiB|MiB|GiB)?$/.exec(text);
  if (!match) throw new InvalidOptionError(option, `"${text}" must be a size like 4194304, 512KiB or 4MiB`);
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[(match[2] ?? 'B') as 'B'];
  const bytes = Number(match[1]) * unit;
  if (bytes < 1) throw new InvalidOptionError(option, 'must be at least 1 byte');
  return bytes;
}

function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  return a.port !== 0 && a.port === b.port && a.host === b.host;
}

/** `--help` text for `run`, from the table. */
export function runHelp(): string {
  const lines = RUN_OPTIONS.map((o) => {
    const def =
      o.default === null
        ? ''
        : ` (default: ${Array.isArray(o.default) ? o.default.join(',') || 'none' : o.default})`;
    return `  --${o.flag.padEnd(20)} ${o.help}${def}\n  ${''.padEnd(22)} env ${envName(o.flag)}`;
  });
  return `Usage: provenance-proxy run [options]\n\nStarts the intercepting proxy and its control server.\n\nOptions:\n${lines.join('\n')}\n  --help                 show this help\n`;
}
