import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ecdsaKeyFiles, type KeyFiles } from '../../signing/keys.js';
import type { Clients } from '../../support/clients.js';
import type { FIXTURE } from '../../support/fixture-images.js';
import { readRegistryContents } from '../../support/ground-truth.js';
import { type Lab, startLab } from '../../support/lab.js';
import { type RunningProxy, startProxy } from '../../support/proxy.js';
import type { RunningRegistry } from '../../support/registry.js';
import { waitUntil } from '../../support/wait-until.js';
import { assertCliBuilt } from './cli.js';
import { imageResourceUrl, listBuildOccurrences, type StoredOccurrence } from './store-reader.js';

export interface ReportingProxyOptions {
  /** A lab started with `withProxy: false`: its registries, CA and fixtures. */
  lab: Lab;
  /** Working directory of this proxy (its data dir lives below it; reuse it to restart as the same proxy). */
  dir: string;
  storeUrl: string;
  project: string;
  signingKeyPath: string;
  /** `--provenance-dir`: the file sink as well. */
  provenanceDir?: string;
  /** `--grafeas-token-file`: the store's writer token. */
  grafeasTokenFile?: string;
}

export interface ReportingProxy {
  proxy: RunningProxy;
  /** skopeo and friends routed through this proxy, trusting its current CA. */
  clients: Clients;
}

/**
 * Short report retries, so a store coming back is noticed within a fraction of a second instead of
 * the production ceiling of 60 s; the behaviour under test (retry until delivered, exactly once) is
 * the same.
 */
export const TEST_RETRY_ARGS = ['--report-retry-base', '20ms', '--report-retry-max', '250ms'];

export interface ReportingLab {
  /** Started with the open registry and no proxy of its own: each scenario starts its own. */
  readonly lab: Lab;
  readonly registry: RunningRegistry;
  /** An ECDSA P-256 signing key pair for the proxies under test. */
  readonly keys: KeyFiles;
}

/**
 * What every reporting e2e file starts with: the CLI built, a lab with the open registry, a
 * signing key pair; all of it torn down with the test.
 */
export async function startReportingLab(
  name: string,
  teardown: (fn: () => unknown) => void,
): Promise<ReportingLab> {
  await assertCliBuilt();
  const lab = await startLab({ name, teardown, registries: ['open'], withProxy: false });
  const keys = ecdsaKeyFiles();
  teardown(() => keys.cleanup());
  return { lab, registry: lab.registry('open'), keys };
}

/** Starts the proxy under test with a signing key and the Grafeas sink pointed at the store. */
export async function startReportingProxy(options: ReportingProxyOptions): Promise<ReportingProxy> {
  const proxy = await startProxy({
    dir: options.dir,
    upstreamCaPath: options.lab.ca.caCertPath,
    extraArgs: [
      '--signing-key',
      options.signingKeyPath,
      '--grafeas-url',
      options.storeUrl,
      '--grafeas-project',
      options.project,
      '--shutdown-grace',
      '10s',
      ...TEST_RETRY_ARGS,
      ...(options.provenanceDir === undefined ? [] : ['--provenance-dir', options.provenanceDir]),
      ...(options.grafeasTokenFile === undefined ? [] : ['--grafeas-token-file', options.grafeasTokenFile]),
    ],
  });
  const clients = options.lab.directClients.withRoute({
    proxyUrl: proxy.url,
    // A getter: a restarted proxy mints a new CA, and clients must trust the current one.
    get trust() {
      return proxy.trust;
    },
  });
  return { proxy, clients };
}

/** One push a registry acknowledged. */
export interface AcknowledgedPush {
  repository: string;
  tag: string;
  /** `sha256:<hex>` skopeo reported (`--digestfile`); tests hold it against the registry's own record. */
  digest: string;
  /** `registry.test:<port>/<repository>@sha256:<hex>`, what `verify` takes. */
  reference: string;
  /** The Grafeas resource URL the occurrence must carry. */
  resourceUrl: string;
  /** performance.now() when the client command returned, i.e. after the registry's 201 for the manifest. */
  acknowledgedAt: number;
}

/** skopeo copies a fixture image through the proxy; throws unless it succeeds and names the digest. */
export async function pushThroughProxy(
  clients: Clients,
  lab: Lab,
  registry: RunningRegistry,
  fixture: (typeof FIXTURE)[keyof typeof FIXTURE],
  repository: string,
  tag: string,
): Promise<AcknowledgedPush> {
  const result = await clients.skopeoCopy(
    lab.fixtures.ref(fixture),
    `docker://${registry.host}/${repository}:${tag}`,
  );
  const acknowledgedAt = performance.now();
  if (result.digest === undefined) throw new Error(`skopeo wrote no digest for ${repository}:${tag}`);
  return {
    repository,
    tag,
    digest: result.digest,
    reference: `${registry.host}/${repository}@${result.digest}`,
    resourceUrl: imageResourceUrl(registry.host, repository, result.digest),
    acknowledgedAt,
  };
}

/** The digest the registry holds under a tag, read from the registry directly (ground truth). */
export async function registryDigest(
  registry: RunningRegistry,
  repository: string,
  tag: string,
): Promise<string | undefined> {
  const contents = await readRegistryContents(registry, { includeRepository: (name) => name === repository });
  return contents.repositories[0]?.tags[tag];
}

/**
 * Polls the store's list API until the resource has a BUILD occurrence; resolves with the
 * occurrences and performance.now() of the first listing that held one. Bounded (about 10 s).
 */
export async function awaitOccurrence(
  storeUrl: string,
  project: string,
  resourceUrl: string,
): Promise<{ occurrences: StoredOccurrence[]; seenAt: number }> {
  return waitUntil(
    async () => {
      const occurrences = await listBuildOccurrences(storeUrl, project, resourceUrl);
      const seenAt = performance.now();
      return occurrences.length > 0 ? { occurrences, seenAt } : undefined;
    },
    { what: `a BUILD occurrence for ${resourceUrl} in project ${project}`, attempts: 1000, intervalMs: 10 },
  );
}

/** Per-proxy working directories below the lab's directory. */
export function labPath(lab: Lab, ...parts: string[]): string {
  return join(lab.dir, ...parts);
}
