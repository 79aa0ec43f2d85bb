import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { InTotoStatement } from '../../src/provenance/statement-types.js';
import { freePort } from './free-port.js';
import type { ImageRecord, ImagesResponse } from './images-contract.js';
import { type TrustMaterial, writeTrustMaterial } from './pki.js';
import { startService, stopChild } from './run-command.js';
import { PROJECT_ROOT } from './tools.js';

/** Overrides the proxy entry point (a JS file run with node), e.g. to try the harness against a local build. */
export const PROXY_CLI_ENV = 'PROVENANCE_PROXY_CLI';
const DEFAULT_CLI = join(PROJECT_ROOT, 'dist/cli/main.js');

/**
 * The tests' registries and origins listen on loopback, which the destination policy refuses by
 * default: every launcher re-opens it with these arguments, and only these.
 */
export const ALLOW_LOOPBACK_DESTINATIONS: readonly string[] = [
  '--allow-destination',
  '127.0.0.0/8',
  '--allow-destination',
  '::1/128',
];

export interface StartProxyOptions {
  /** Working directory: data dir, CA output, log and trust material go below it. */
  dir: string;
  /** PEM file the proxy must trust for its upstream TLS (the test CA). */
  upstreamCaPath: string;
  /** Extra environment for the proxy process. */
  env?: NodeJS.ProcessEnv;
  /** Extra CLI arguments after the standard ones. */
  extraArgs?: string[];
  /** false: leave loopback refused, as in production (destination policy tests). */
  allowLoopback?: boolean;
  /**
   * What the `run …` arguments follow, instead of `node --max-semi-space-size=1 <cli>`: e.g. an
   * image's entrypoint run from its mounted root filesystem (test/image/support/run-in-rootfs.sh).
   */
  command?: readonly string[];
  /** Runs the proxy under a wrapper (e.g. `ip netns exec NS setpriv --reuid …`); node follows it. */
  spawnPrefix?: string[];
  /** Address the control listener binds and the accessors use (default 127.0.0.1). */
  controlHost?: string;
}

export interface RunningProxy {
  /** http://127.0.0.1:<port>: what clients get as HTTPS_PROXY. */
  url: string;
  controlUrl: string;
  dataDir: string;
  /** Where `--ca-cert-out` told the proxy to write its CA certificate. */
  caCertOutPath: string;
  /** The proxy's CA (fetched from /ca.pem) as a cert dir and a bundle; refreshed by restart(). */
  trust: TrustMaterial;
  logPath: string;
  pid(): number | undefined;
  images(): Promise<ImageRecord[]>;
  provenance(): Promise<InTotoStatement>;
  metrics(): Promise<string>;
  /** GET on the control listener with the control token; resolves with status and body text. */
  control(
    path: string,
    init?: { method?: string; token?: string | null },
  ): Promise<{ status: number; body: string }>;
  /** The control token of the running proxy (generated per start unless `--control-token-file` is given). */
  controlToken(): Promise<string>;
  /** Sends a signal and waits until the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Starts the proxy again with the same ports and data dir (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The proxy could not be started or never became ready. */
export class ProxyStartError extends Error {
  readonly code = 'ERR_TEST_PROXY_START';
}

/**
 * Starts the proxy CLI as a child process on free ports:
 * `node dist/cli/main.js run --listen … --control-listen … --ca-cert-out … --upstream-ca … --data-dir …`,
 * waits for `GET /readyz` = 200 (bounded), and fetches `/ca.pem` into trust material for clients.
 */
export async function startProxy(options: StartProxyOptions): Promise<RunningProxy> {
  const cli = resolve(process.env[PROXY_CLI_ENV] ?? DEFAULT_CLI);
  if (options.command === undefined)
    await access(cli).catch(() => {
      throw new ProxyStartError(
        `${cli} does not exist: run \`npm run build\` first (or set ${PROXY_CLI_ENV})`,
      );
    });
  const home = join(options.dir, 'proxy');
  const dataDir = join(home, 'data');
  await mkdir(dataDir, { recursive: true });
  const listenPort = await freePort();
  const controlPort = await freePort();
  const caCertOutPath = join(home, 'proxy-ca.pem');
  const logPath = join(home, 'proxy.log');
  const controlHost = options.controlHost ?? '127.0.0.1';
  const controlUrl = `http://${controlHost}:${controlPort}`;
  const [program, ...prefix] = [
    ...(options.spawnPrefix ?? []),
    ...(options.command ?? [
      process.execPath,
      // What the bin's shebang and `npm start` give node (docs/decisions.md).
      '--max-semi-space-size=1',
      cli,
    ]),
  ];
  if (program === undefined) throw new ProxyStartError('options.command is empty');
  const file: string = program;
  const args = [
    ...prefix,
    'run',
    '--listen',
    `127.0.0.1:${listenPort}`,
    '--control-listen',
    `${controlHost}:${controlPort}`,
    '--ca-cert-out',
    caCertOutPath,
    '--upstream-ca',
    options.upstreamCaPath,
    '--data-dir',
    dataDir,
    ...(options.allowLoopback === false ? [] : ALLOW_LOOPBACK_DESTINATIONS),
    ...(options.extraArgs ?? []),
  ];
  const env = { ...withoutProxyVariables(process.env), ...options.env };
  const controlTokenPath = controlTokenFileOf(args, env) ?? join(dataDir, 'control-token');
  // Read at each use: a restarted proxy mints a new token.
  const controlToken = async () => (await readFile(controlTokenPath, 'utf8')).trim();

  let child: ChildProcess | undefined;
  let trust: TrustMaterial | undefined;

  async function launch(): Promise<void> {
    const started = await startService(file, args, {
      env,
      logPath,
      what: `proxy /readyz on ${controlUrl}`,
      ready: async () => {
        const response = await fetch(`${controlUrl}/readyz`);
        await response.arrayBuffer();
        return response.status === 200;
      },
      // 60 s: with load average 20 on 2 cores (parallel suites), start-up took longer than 15 s.
      attempts: 600,
    });
    child = started;
    try {
      const caResponse = await fetch(`${controlUrl}/ca.pem`);
      if (caResponse.status !== 200) throw new ProxyStartError(`GET /ca.pem answered ${caResponse.status}`);
      trust = await writeTrustMaterial(join(home, 'trust'), await caResponse.text());
    } catch (error) {
      started.kill('SIGKILL');
      throw error;
    }
  }

  await launch();

  async function getJson<T>(path: string): Promise<T> {
    const { status, body } = await proxy.control(path);
    if (status !== 200) throw new Error(`GET ${path} answered ${status}: ${body.slice(0, 500)}`);
    return JSON.parse(body) as T;
  }

  const proxy: RunningProxy = {
    url: `http://127.0.0.1:${listenPort}`,
    controlUrl,
    dataDir,
    caCertOutPath,
    get trust(): TrustMaterial {
      if (trust === undefined) throw new ProxyStartError('proxy not started');
      return trust;
    },
    logPath,
    pid: () => child?.pid,
    images: async () => (await getJson<ImagesResponse>('/v1/images')).images,
    provenance: () => getJson<InTotoStatement>('/v1/provenance'),
    async metrics() {
      return (await proxy.control('/metrics')).body;
    },
    async control(path, init = {}) {
      const token = init.token === undefined ? await controlToken() : init.token;
      const response = await fetch(`${controlUrl}${path}`, {
        method: init.method ?? 'GET',
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
      });
      return { status: response.status, body: await response.text() };
    },
    controlToken,
    async kill(signal: NodeJS.Signals) {
      const running = child;
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
      const exited = once(running, 'exit');
      running.kill(signal);
      await exited;
    },
    async restart() {
      await proxy.stop();
      await launch();
    },
    async stop() {
      if (child !== undefined) await stopChild(child);
    },
  };
  return proxy;
}

/** `--control-token-file` as the proxy will read it: from the arguments, else its environment variable. */
function controlTokenFileOf(args: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  for (const [i, arg] of args.entries()) {
    if (arg === '--control-token-file') return args[i + 1];
    if (arg.startsWith('--control-token-file=')) return arg.slice('--control-token-file='.length);
  }
  return env.PROVENANCE_PROXY_CONTROL_TOKEN_FILE;
}

/** The proxy itself must connect upstream directly, whatever the test runner's environment says. */
function withoutProxyVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy']) {
    delete copy[name];
  }
  return copy;
}
