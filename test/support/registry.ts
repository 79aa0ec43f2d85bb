import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { httpsRequestOnce } from './https-request.js';
import { REGISTRY_HOSTNAME, type TestCa } from './pki.js';
import { RegistryClient, type RegistryCredentials } from './registry-client.js';
import { parseRegistryLog, type RegistryLogEntry } from './registry-log.js';
import { runChecked, startService, stopChild } from './run-command.js';
import { requireTool } from './tools.js';
import { waitUntil } from './wait-until.js';

/** How clients must authenticate to a registry. */
export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'basic'; credentials: RegistryCredentials }
  | {
      kind: 'token';
      /** Credentials the token server accepts (for clients and ground-truth reads). */
      credentials: RegistryCredentials;
      realm: string;
      issuer: string;
      /** PEM file of the CA that signed the token server's signing certificate (the JWT's x5c). */
      rootCertBundlePath: string;
    };

export interface StartRegistryOptions {
  /** Working directory for the config, storage and log (a subdirectory is created). */
  dir: string;
  name: string;
  ca: TestCa;
  auth: RegistryAuth;
  /** `http.relativeurls`: answer with relative `Location` headers instead of absolute URLs. */
  relativeUrls?: boolean;
}

export interface RunningRegistry {
  name: string;
  /** What clients address: registry.test:<port>. */
  host: string;
  port: number;
  auth: RegistryAuth;
  credentials: RegistryCredentials | undefined;
  /** The filesystem storage root (…/docker/registry/v2 lives below it). */
  storageDir: string;
  logPath: string;
  /** A client talking to the registry directly (not through any proxy), with the test CA. */
  directClient(): RegistryClient;
  /**
   * Every request the registry has logged so far. Call after a client finished: waits (bounded)
   * until a marker request sent now appears, so all earlier responses are in the log.
   */
  requestLog(): Promise<RegistryLogEntry[]>;
  stop(): Promise<void>;
}

/** Starts Debian's docker-registry (distribution 2.8) with TLS from the test CA on a free port. */
export async function startRegistry(options: StartRegistryOptions): Promise<RunningRegistry> {
  const binary = requireTool('docker-registry');
  const home = join(options.dir, `registry-${options.name}`);
  const storageDir = join(home, 'storage');
  await mkdir(storageDir, { recursive: true });
  const port = await freePort();
  const host = `${REGISTRY_HOSTNAME}:${port}`;
  const authYaml = await authSection(home, host, options.auth);
  const configPath = join(home, 'config.yml');
  await writeFile(
    configPath,
    configYaml({ port, storageDir, ca: options.ca, authYaml, relativeUrls: options.relativeUrls }),
  );
  const logPath = join(home, 'registry.log');
  const credentials = options.auth.kind === 'none' ? undefined : options.auth.credentials;
  const child = await startService(binary, ['serve', configPath], {
    logPath,
    what: `docker-registry on ${host}`,
    // 200 open, 401 with a challenge for basic/token: either way it serves the API.
    ready: async () => {
      const response = await httpsRequestOnce({
        url: `https://${host}/v2/`,
        ca: options.ca.caCertPem,
        timeoutMs: 2000,
      });
      return response.status === 200 || response.status === 401;
    },
    attempts: 100,
    intervalMs: 100,
  });

  const directClient = () => new RegistryClient({ host, ca: options.ca.caCertPem, credentials });
  return {
    name: options.name,
    host,
    port,
    auth: options.auth,
    credentials,
    storageDir,
    logPath,
    directClient,
    async requestLog() {
      const marker = randomBytes(8).toString('hex');
      // With credentials: the registry logs "response completed" only for requests it authorised.
      await directClient().request({ path: `/v2/?log-barrier=${marker}` });
      return waitUntil(
        async () => {
          const entries = parseRegistryLog(await readFile(logPath, 'utf8'));
          const index = entries.findIndex((entry) => entry.uri.includes(`log-barrier=${marker}`));
          return index === -1 ? undefined : entries.filter((entry) => !entry.uri.includes('log-barrier='));
        },
        { what: `registry ${host} to log request ${marker}`, attempts: 50, intervalMs: 50 },
      );
    },
    stop: () => stopChild(child),
  };
}

async function authSection(home: string, host: string, auth: RegistryAuth): Promise<string> {
  switch (auth.kind) {
    case 'none':
      return '';
    case 'basic': {
      const htpasswdPath = join(home, 'htpasswd');
      const { stdout } = await runChecked(requireTool('htpasswd'), [
        '-Bbn',
        auth.credentials.username,
        auth.credentials.password,
      ]);
      await writeFile(htpasswdPath, stdout);
      return ['auth:', '  htpasswd:', '    realm: interop-basic', `    path: ${htpasswdPath}`].join('\n');
    }
    case 'token':
      return [
        'auth:',
        '  token:',
        `    realm: ${auth.realm}`,
        `    service: ${host}`,
        `    issuer: ${auth.issuer}`,
        `    rootcertbundle: ${auth.rootCertBundlePath}`,
      ].join('\n');
  }
}

export interface ConfigInput {
  /** Listen address (default 127.0.0.1). */
  host?: string;
  port: number;
  storageDir: string;
  ca: TestCa;
  authYaml: string;
  relativeUrls: boolean | undefined;
}

/** Exported for tests that start the registry elsewhere (in a network namespace). */
export function configYaml(input: ConfigInput): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    // JSON lines: one "response completed" entry per request, parsed as the registry's own record.
    '  formatter: json',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${input.storageDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${input.host ?? '127.0.0.1'}:${input.port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    `  relativeurls: ${input.relativeUrls === true}`,
    '  tls:',
    `    certificate: ${input.ca.serverCertPath}`,
    `    key: ${input.ca.serverKeyPath}`,
    input.authYaml,
    '',
  ].join('\n');
}
