import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import type { TrustMaterial } from './pki.js';
import type { RegistryCredentials } from './registry-client.js';
import {
  type CommandOptions,
  type CommandResult,
  type RunningCommand,
  runChecked,
  runCommand,
  startCommand,
} from './run-command.js';
import { requireTool, type ToolName } from './tools.js';

/** How client commands reach the registries. */
export interface ClientRoute {
  /** HTTPS_PROXY for the clients; undefined = straight to the registries. */
  proxyUrl?: string;
  /** What the clients trust: the proxy's CA through the proxy, the test CA directly. */
  trust: TrustMaterial;
}

export interface ClientsOptions {
  /** Working directory for auth files, container storage, caches and temp files. */
  dir: string;
  route: ClientRoute;
  /** registry host:port → credentials, written to one auth file every client reads. */
  credentials?: Record<string, RegistryCredentials>;
}

export interface SkopeoCopyOptions {
  /** `--all`: copy an index and every child. */
  all?: boolean;
  /** `--dest-compress-format`, e.g. zstd. */
  destCompressFormat?: 'gzip' | 'zstd';
  extraArgs?: string[];
}

export interface PushOptions {
  /** `--compression-format` (podman and buildah). */
  compressionFormat?: 'gzip' | 'zstd';
  /** `--format oci|v2s2`. */
  format?: 'oci' | 'v2s2';
  extraArgs?: string[];
}

/** A client command's result plus the digest it reported (`--digestfile`), when it wrote one. */
export interface ClientResult extends CommandResult {
  digest: string | undefined;
}

/**
 * Runs the real clients — skopeo, buildah, podman (containers/image) and crane, oras (Go
 * registry libraries) — the way a build would: through HTTPS_PROXY with NO_PROXY cleared,
 * trusting the proxy's CA per command (`--cert-dir`-style flags for containers/image tools,
 * SSL_CERT_FILE = system roots + CA for the Go clients, since it replaces Go's roots).
 *
 * Everything machine-wide is kept out of the way: buildah/podman use their own vfs storage
 * below `dir`, and containers/image's blob-info cache (which decides cross-repository mounts
 * and zstd reuse) is a private directory per Clients instance instead of the machine's.
 */
export class Clients {
  readonly dir: string;
  readonly authFile: string;
  private readonly route: ClientRoute;
  private readonly storageRoot: string;
  private readonly runRoot: string;
  private readonly blobInfoCache: string;
  private readonly tmpDir: string;
  private readonly digestDir: string;
  private readonly paths: ClientPaths;
  private digestCounter = 0;

  private constructor(options: ClientsOptions, paths: ClientPaths) {
    this.paths = paths;
    this.dir = options.dir;
    this.route = options.route;
    this.authFile = paths.authFile;
    this.storageRoot = paths.storageRoot;
    this.runRoot = paths.runRoot;
    this.blobInfoCache = paths.blobInfoCache;
    this.tmpDir = paths.tmpDir;
    this.digestDir = paths.digestDir;
  }

  static async create(options: ClientsOptions): Promise<Clients> {
    // podman refuses a runroot longer than 50 characters (socket paths live below it).
    const runRoot = await mkdtemp(join(tmpdir(), 'ppr-'));
    const paths = clientPaths(options.dir, runRoot);
    for (const dir of [
      paths.authDir,
      paths.storageRoot,
      paths.runRoot,
      paths.blobInfoCache,
      paths.tmpDir,
      paths.digestDir,
    ]) {
      await mkdir(dir, { recursive: true });
    }
    await writeFile(paths.authFile, authFileJson(options.credentials ?? {}), { mode: 0o600 });
    return new Clients(options, paths);
  }

  /** The same storage, caches and credentials, reached another way (e.g. direct instead of proxied). */
  withRoute(route: ClientRoute): Clients {
    return new Clients({ dir: this.dir, route }, this.paths);
  }

  /** Removes what lives outside `dir` (the short runroot); `dir` itself belongs to the caller. */
  async dispose(): Promise<void> {
    await rm(this.runRoot, { recursive: true, force: true });
  }

  // ── skopeo ────────────────────────────────────────────────────────────────

  skopeoCopyArgs(
    source: string,
    destination: string,
    options: SkopeoCopyOptions = {},
    digestFile?: string,
  ): string[] {
    const certDir = this.route.trust.certDir;
    return [
      '--insecure-policy',
      'copy',
      '--retry-times',
      '0',
      '--src-cert-dir',
      certDir,
      '--dest-cert-dir',
      certDir,
      '--authfile',
      this.authFile,
      ...(options.all === true ? ['--all'] : []),
      ...(options.destCompressFormat === undefined
        ? []
        : ['--dest-compress-format', options.destCompressFormat]),
      ...(digestFile === undefined ? [] : ['--digestfile', digestFile]),
      ...(options.extraArgs ?? []),
      source,
      destination,
    ];
  }

  /** `skopeo copy SOURCE DEST`; throws unless it exits 0. */
  async skopeoCopy(
    source: string,
    destination: string,
    options: SkopeoCopyOptions = {},
  ): Promise<ClientResult> {
    const digestFile = this.nextDigestFile();
    const result = await this.runContainersTool(
      'skopeo',
      this.skopeoCopyArgs(source, destination, options, digestFile),
      true,
    );
    return { ...result, digest: await readDigest(digestFile) };
  }

  /** `skopeo copy` that may fail (fault tests): never throws, returns the exit status. */
  async skopeoCopyUnchecked(
    source: string,
    destination: string,
    options: SkopeoCopyOptions = {},
  ): Promise<CommandResult> {
    return this.runContainersTool('skopeo', this.skopeoCopyArgs(source, destination, options), false);
  }

  /** Starts `skopeo copy` and returns at once (to kill it mid-push). */
  startSkopeoCopy(source: string, destination: string, options: SkopeoCopyOptions = {}): RunningCommand {
    const [file, args] = this.containersInvocation(
      'skopeo',
      this.skopeoCopyArgs(source, destination, options),
    );
    return startCommand(file, args, this.commandOptions(false));
  }

  // ── buildah / podman ──────────────────────────────────────────────────────

  /** buildah with this instance's private storage; `args` start with the subcommand. */
  buildah(args: readonly string[]): Promise<CommandResult> {
    return this.runContainersTool('buildah', [...this.storageFlags(), ...args], true);
  }

  async buildahPush(
    localImage: string,
    destination: string,
    options: PushOptions = {},
  ): Promise<ClientResult> {
    const digestFile = this.nextDigestFile();
    const result = await this.buildah([
      'push',
      ...this.pushFlags(options, digestFile),
      localImage,
      destination,
    ]);
    return { ...result, digest: await readDigest(digestFile) };
  }

  async buildahManifestPush(
    list: string,
    destination: string,
    options: PushOptions = {},
  ): Promise<ClientResult> {
    const digestFile = this.nextDigestFile();
    const result = await this.buildah([
      'manifest',
      'push',
      '--all',
      ...this.pushFlags(options, digestFile),
      list,
      destination,
    ]);
    return { ...result, digest: await readDigest(digestFile) };
  }

  /** podman with this instance's private storage; `args` start with the subcommand. */
  podman(args: readonly string[]): Promise<CommandResult> {
    const podmanOnly = [
      '--tmpdir',
      join(this.runRoot, 'libpod-tmp'),
      '--events-backend',
      'none',
      '--cgroup-manager',
      'cgroupfs',
    ];
    return this.runContainersTool('podman', [...this.storageFlags(), ...podmanOnly, ...args], true);
  }

  async podmanPush(
    localImage: string,
    destination: string,
    options: PushOptions = {},
  ): Promise<ClientResult> {
    const digestFile = this.nextDigestFile();
    const result = await this.podman([
      'push',
      ...this.pushFlags(options, digestFile),
      localImage,
      destination,
    ]);
    return { ...result, digest: await readDigest(digestFile) };
  }

  podmanPull(reference: string, extraArgs: readonly string[] = []): Promise<CommandResult> {
    return this.podman([
      'pull',
      '--cert-dir',
      this.route.trust.certDir,
      '--authfile',
      this.authFile,
      ...extraArgs,
      reference,
    ]);
  }

  // ── Go clients ────────────────────────────────────────────────────────────

  /** crane with the route's proxy, SSL_CERT_FILE bundle and the auth file as DOCKER_CONFIG. */
  crane(args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    return runChecked(requireTool('crane'), args, this.goOptions(options));
  }

  /** oras likewise; `cwd` matters for `oras push/attach FILE:TYPE` (oras refuses absolute paths by default). */
  oras(args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    return runChecked(requireTool('oras'), args, this.goOptions(options));
  }

  /** Runs any other Go client (e.g. cosign) the same way; `options.env` adds to its environment. */
  goTool(tool: ToolName, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    return runChecked(requireTool(tool), args, this.goOptions(options));
  }

  // ── plumbing ──────────────────────────────────────────────────────────────

  private storageFlags(): string[] {
    return ['--root', this.storageRoot, '--runroot', this.runRoot, '--storage-driver', 'vfs'];
  }

  private pushFlags(options: PushOptions, digestFile: string): string[] {
    return [
      '--cert-dir',
      this.route.trust.certDir,
      '--authfile',
      this.authFile,
      '--digestfile',
      digestFile,
      ...(options.compressionFormat === undefined ? [] : ['--compression-format', options.compressionFormat]),
      ...(options.format === undefined ? [] : ['--format', options.format]),
      ...(options.extraArgs ?? []),
    ];
  }

  private async runContainersTool(
    tool: ToolName,
    args: readonly string[],
    checked: boolean,
  ): Promise<CommandResult> {
    const [file, fullArgs] = this.containersInvocation(tool, args);
    const options = this.commandOptions(false);
    return checked ? runChecked(file, fullArgs, options) : runCommand(file, fullArgs, options);
  }

  /**
   * As root, containers/image keeps its blob-info cache in /var/lib/containers/cache, shared by
   * every skopeo run on the machine. Run the tool in a private mount namespace with that path
   * bound to this instance's cache dir, so runs neither see nor change the machine's cache.
   * `exec` keeps the tool's pid, so killing the returned process kills the tool itself.
   */
  private containersInvocation(tool: ToolName, args: readonly string[]): [string, string[]] {
    const toolPath = requireTool(tool);
    if (process.getuid?.() !== 0) return [toolPath, [...args]];
    const script =
      'cache="$1"; shift; mkdir -p /var/lib/containers/cache && mount --bind "$cache" /var/lib/containers/cache && exec "$@"';
    return [
      requireTool('unshare'),
      ['--mount', 'sh', '-c', script, 'sh', this.blobInfoCache, toolPath, ...args],
    ];
  }

  private goOptions(options: CommandOptions): CommandOptions {
    const base = this.commandOptions(true);
    return { ...base, ...options, env: { ...base.env, ...options.env } };
  }

  private commandOptions(goClient: boolean): CommandOptions {
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: this.tmpDir };
    for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy']) {
      delete env[name];
    }
    if (this.route.proxyUrl !== undefined) {
      env.HTTPS_PROXY = this.route.proxyUrl;
      env.https_proxy = this.route.proxyUrl;
      env.HTTP_PROXY = this.route.proxyUrl;
      env.http_proxy = this.route.proxyUrl;
    }
    // A NO_PROXY covering registry.test would silently bypass the proxy under test.
    env.NO_PROXY = '';
    env.no_proxy = '';
    // Non-root containers/image keeps its blob-info cache below XDG_DATA_HOME.
    env.XDG_DATA_HOME = this.blobInfoCache;
    if (goClient) {
      env.SSL_CERT_FILE = this.route.trust.bundlePath;
      env.DOCKER_CONFIG = join(this.dir, 'auth');
    }
    return { env, cwd: this.dir };
  }

  private nextDigestFile(): string {
    this.digestCounter += 1;
    return join(this.digestDir, `${Date.now()}-${this.digestCounter}.digest`);
  }
}

interface ClientPaths {
  authDir: string;
  authFile: string;
  storageRoot: string;
  runRoot: string;
  blobInfoCache: string;
  tmpDir: string;
  digestDir: string;
}

function clientPaths(dir: string, runRoot: string): ClientPaths {
  const authDir = join(dir, 'auth');
  return {
    authDir,
    // One file in docker's config.json format: --authfile for containers/image, DOCKER_CONFIG for crane/oras.
    authFile: join(authDir, 'config.json'),
    storageRoot: join(dir, 'containers', 'root'),
    runRoot,
    blobInfoCache: join(dir, 'blob-info-cache'),
    tmpDir: join(dir, 'tmp'),
    digestDir: join(dir, 'digests'),
  };
}

export function authFileJson(credentials: Record<string, RegistryCredentials>): string {
  const auths: Record<string, { auth: string }> = {};
  for (const [host, { username, password }] of Object.entries(credentials)) {
    auths[host] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  }
  return `${JSON.stringify({ auths }, null, 2)}\n`;
}

async function readDigest(path: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text?.trim() || undefined;
}

// Raw clients for the proxy tests: the curl CLI, a CONNECT tunnel, TLS and Node's http client through it.

export interface CurlResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs the real curl CLI. */
export function curl(args: string[], input?: Buffer | string): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** curl through `proxy`, trusting its CA, discarding the body: stdout is the HTTP status (000 when cut). */
export function curlStatusThroughProxy(
  proxy: { readonly url: string; readonly caCertOutPath: string },
  url: string,
  extra: readonly string[] = [],
): Promise<CurlResult> {
  return curl([
    '--proxy',
    proxy.url,
    '--cacert',
    proxy.caCertOutPath,
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    ...extra,
    url,
  ]);
}

/** Opens a CONNECT tunnel through the proxy and returns the raw socket. */
export function connectTunnel(
  proxyPort: number,
  authority: string,
): Promise<{ socket: Socket; status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: authority });
    req.once('connect', (res, socket) => resolve({ socket, status: res.statusCode ?? 0 }));
    req.once('error', reject);
    req.end();
  });
}

/** A TLS session to `host:port` through the proxy, verified against `ca`. */
export async function tlsThroughProxy(
  proxyPort: number,
  host: string,
  port: number,
  ca: string,
): Promise<TLSSocket> {
  const { socket, status } = await connectTunnel(proxyPort, `${host}:${port}`);
  if (status !== 200) throw new Error(`CONNECT answered ${status}`);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ socket, servername: host, ca, ALPNProtocols: ['h2', 'http/1.1'] }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
}

/**
 * An http.Agent whose connections are TLS sessions through the proxy, so Node's
 * own http client (keep-alive, chunked, 100-continue) can be used as a real client.
 */
export function agentThroughProxy(proxyPort: number, ca: string, keepAlive = true): http.Agent {
  const agent = new http.Agent({ keepAlive, maxSockets: 1 });
  // biome-ignore lint/suspicious/noExplicitAny: Agent.createConnection takes a callback form that @types/node omits
  (agent as any).createConnection = (
    options: { host: string; port: number },
    cb: (err: Error | null, s?: TLSSocket) => void,
  ) => {
    tlsThroughProxy(proxyPort, options.host, Number(options.port), ca).then(
      (s) => cb(null, s),
      (e: Error) => cb(e),
    );
  };
  return agent;
}
