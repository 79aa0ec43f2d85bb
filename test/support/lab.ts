import { lookup } from 'node:dns/promises';
import { join } from 'node:path';
import { type ClientRoute, Clients } from './clients.js';
import { buildFixtureLayout, type FixtureLayout } from './fixture-images.js';
import {
  createTestCa,
  REGISTRY_HOSTNAME,
  type TestCa,
  type TrustMaterial,
  writeTrustMaterial,
} from './pki.js';
import { type RunningProxy, type StartProxyOptions, startProxy } from './proxy.js';
import {
  compareRecordWithRegistries,
  type GroundTruthTarget,
  type RecordComparison,
} from './recorded-vs-registry.js';
import { type RunningRegistry, startRegistry } from './registry.js';
import type { RegistryCredentials } from './registry-client.js';
import { settleProxy } from './settle-barrier.js';
import { makeTempDir } from './temp-dir.js';
import { type RunningTokenServer, startTokenServer } from './token-server.js';

/** The three registry kinds of the lab (../shared/oci-flows.md §1). */
export type RegistryKind = 'open' | 'basic' | 'token';

/** Credentials of the basic-auth registry and the token server (test-only, never secret). */
export const LAB_CREDENTIALS: RegistryCredentials = { username: 'interop', password: 'interop-pass' };
export const TOKEN_ISSUER = 'provenance-proxy-interop-token-issuer';
/** The token server's OAuth2 refresh token (a config.json `identitytoken`); a test value, no secret. */
export const LAB_REFRESH_TOKEN = 'interop-refresh-token-7f3c';

export interface LabOptions {
  /** Short name, used in temp dir names. */
  name: string;
  /** Registers cleanup (pass `(fn) => t.teardown(fn)`). */
  teardown: (fn: () => Promise<void>) => void;
  /** Registries to start (default: all three). */
  registries?: RegistryKind[];
  /** Start the proxy under test and route `clients` through it (default true). */
  withProxy?: boolean;
  /** How the proxy under test is started (extra arguments, environment, another command). */
  proxy?: Omit<StartProxyOptions, 'dir' | 'upstreamCaPath'>;
  /** Extra `run` arguments for the proxy, made once the registries are up (their ports are known). */
  proxyArgs?: (registry: (kind: RegistryKind) => RunningRegistry) => string[];
}

export interface Lab {
  dir: string;
  ca: TestCa;
  /** The test CA as client trust material (for direct access). */
  directTrust: TrustMaterial;
  tokenServer: RunningTokenServer | undefined;
  registry(kind: RegistryKind): RunningRegistry;
  /** The proxy under test (throws if the lab was started without it). */
  proxy(): RunningProxy;
  fixtures: FixtureLayout;
  /** Clients routed through the proxy under test (or direct when the lab has no proxy). */
  clients: Clients;
  /** The same clients (same storage and caches) talking to the registries directly. */
  directClients: Clients;
  /** Clients through the proxy whose auth file holds no credential at all (a build that holds none). */
  clientsWithoutCredentials(): Promise<Clients>;
  /** Waits until the proxy has applied every exchange completed so far (see settle-barrier.ts). */
  settle(): Promise<void>;
  /** Settles, then holds the proxy's /v1/images against what the given registries hold. */
  compare(targets: readonly GroundTruthTarget[]): Promise<RecordComparison>;
}

/** /etc/hosts lacks registry.test (the install script adds it). */
export class LabSetupError extends Error {
  readonly code = 'ERR_TEST_LAB_SETUP';
}

/**
 * Starts what a test file needs: a temp dir, a fresh test CA, the token server, the
 * registries, the proxy under test with its own data dir, clients, and the fixture layout.
 * Everything is torn down by the registered teardown.
 */
export async function startLab(options: LabOptions): Promise<Lab> {
  await assertHostsEntry();
  const temp = await makeTempDir(options.name);
  const cleanups: (() => Promise<void>)[] = [];
  options.teardown(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await temp.remove();
  });
  const dir = temp.path;
  const ca = await createTestCa(join(dir, 'ca'));
  const directTrust = await writeTrustMaterial(join(dir, 'direct-trust'), ca.caCertPem);
  const kinds = options.registries ?? ['open', 'basic', 'token'];

  let tokenServer: RunningTokenServer | undefined;
  if (kinds.includes('token')) {
    tokenServer = await startTokenServer({
      ca,
      credentials: LAB_CREDENTIALS,
      issuer: TOKEN_ISSUER,
      refreshToken: LAB_REFRESH_TOKEN,
    });
    const server = tokenServer;
    cleanups.push(() => server.close());
  }
  const registries = new Map<RegistryKind, RunningRegistry>();
  for (const kind of kinds) {
    const registry = await startRegistry({
      dir,
      name: kind,
      ca,
      auth:
        kind === 'open'
          ? { kind: 'none' }
          : kind === 'basic'
            ? { kind: 'basic', credentials: LAB_CREDENTIALS }
            : {
                kind: 'token',
                credentials: LAB_CREDENTIALS,
                realm: tokenServer?.realm ?? '',
                issuer: TOKEN_ISSUER,
                rootCertBundlePath: ca.caCertPath,
              },
      // As in the recorded lab: the basic-auth registry answers with relative Location headers.
      relativeUrls: kind === 'basic',
    });
    registries.set(kind, registry);
    cleanups.push(() => registry.stop());
  }

  const startedRegistry = (kind: RegistryKind): RunningRegistry => {
    const registry = registries.get(kind);
    if (registry === undefined) throw new LabSetupError(`the lab was started without the ${kind} registry`);
    return registry;
  };
  let proxy: RunningProxy | undefined;
  if (options.withProxy !== false) {
    proxy = await startProxy({
      ...options.proxy,
      dir,
      upstreamCaPath: ca.caCertPath,
      extraArgs: [...(options.proxy?.extraArgs ?? []), ...(options.proxyArgs?.(startedRegistry) ?? [])],
    });
    const started = proxy;
    cleanups.push(() => started.stop());
  }

  const credentials: Record<string, RegistryCredentials> = {};
  for (const registry of registries.values()) {
    if (registry.credentials !== undefined) credentials[registry.host] = registry.credentials;
  }
  const directRoute: ClientRoute = { trust: directTrust };
  const running = proxy;
  const proxiedRoute: ClientRoute | undefined =
    running === undefined
      ? undefined
      : {
          proxyUrl: running.url,
          // A getter: the proxy mints a new CA when restarted, and clients must trust the current one.
          get trust() {
            return running.trust;
          },
        };
  const clients = await Clients.create({
    dir: join(dir, 'clients'),
    route: proxiedRoute ?? directRoute,
    credentials,
  });
  cleanups.push(() => clients.dispose());
  const fixtures = await buildFixtureLayout(join(dir, 'fixtures', 'layout'));

  const settle = async (): Promise<void> => {
    if (proxy === undefined) throw new LabSetupError('the lab was started without the proxy');
    const [first] = registries.values();
    if (first === undefined) throw new LabSetupError('the lab has no registry');
    await settleProxy(proxy, first);
  };

  return {
    dir,
    ca,
    directTrust,
    tokenServer,
    registry: startedRegistry,
    proxy() {
      if (proxy === undefined) throw new LabSetupError('the lab was started without the proxy');
      return proxy;
    },
    fixtures,
    clients,
    directClients: clients.withRoute(directRoute),
    async clientsWithoutCredentials() {
      if (proxiedRoute === undefined) throw new LabSetupError('the lab was started without the proxy');
      const bare = await Clients.create({
        dir: join(dir, 'clients-without-credentials'),
        route: proxiedRoute,
      });
      cleanups.push(() => bare.dispose());
      return bare;
    },
    settle,
    async compare(targets) {
      if (proxy === undefined) throw new LabSetupError('the lab was started without the proxy');
      await settle();
      return compareRecordWithRegistries(await proxy.images(), targets);
    },
  };
}

async function assertHostsEntry(): Promise<void> {
  const resolved = await lookup(REGISTRY_HOSTNAME).catch(() => undefined);
  if (resolved?.address !== '127.0.0.1') {
    throw new LabSetupError(
      `${REGISTRY_HOSTNAME} must resolve to 127.0.0.1 (Go clients never proxy loopback names): run scripts/install-test-deps.sh`,
    );
  }
}
