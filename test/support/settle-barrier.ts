import { randomUUID } from 'node:crypto';
import type { InTotoStatement } from '../../src/provenance/statement-types.js';
import { ChunkedPusher } from './chunked-pusher.js';
import { MANIFEST_ACCEPT, MEDIA_TYPES } from './manifest-types.js';
import type { RunningProxy } from './proxy.js';
import type { RunningRegistry } from './registry.js';
import { RegistryClient } from './registry-client.js';
import { waitUntil } from './wait-until.js';

/** Repositories the barrier uses; ground-truth comparisons leave them out on both sides. */
export const BARRIER_REPOSITORY_PREFIX = 'interop-barrier/';
const BARRIER_REPOSITORY = `${BARRIER_REPOSITORY_PREFIX}settle`;

/**
 * Waits until the proxy has applied every exchange that completed before this call.
 *
 * The proxy records an exchange after the client has its response (the journal append and
 * the record update come after the bytes moved), so a client that has exited may still be
 * ahead of /v1/images. The barrier: push a never-seen manifest straight to the registry, pull
 * it *through the proxy*, and wait (bounded) until /v1/provenance lists that pull. Exchanges
 * are journaled and applied in completion order, so every earlier exchange is applied too —
 * which also makes "nothing was recorded" assertions meaningful.
 */
export async function settleProxy(proxy: RunningProxy, registry: RunningRegistry): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', barrier: randomUUID() }));
  const direct = new ChunkedPusher(registry.directClient());
  const configDigest = await direct.uploadBlobInClosingPut(BARRIER_REPOSITORY, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: config.length },
      layers: [],
    }),
  );
  const stored = await direct.putManifest(BARRIER_REPOSITORY, 'latest', manifest, MEDIA_TYPES.ociManifest);
  const digest = String(stored.headers['docker-content-digest'] ?? '');
  const proxied = new RegistryClient({
    host: registry.host,
    ca: proxy.trust.caPem,
    credentials: registry.credentials,
    proxy: { url: proxy.url },
  });
  const pulled = await proxied.request({
    path: `/v2/${BARRIER_REPOSITORY}/manifests/${digest}`,
    headers: { accept: MANIFEST_ACCEPT },
  });
  if (pulled.status !== 200) throw new Error(`barrier pull through the proxy answered ${pulled.status}`);
  const hex = digest.replace(/^sha256:/, '');
  await waitUntil(
    async () => {
      const statement: InTotoStatement = await proxy.provenance();
      const dependencies = statement.predicate?.buildDefinition?.resolvedDependencies ?? [];
      return dependencies.some((dependency) => dependency.digest?.sha256 === hex);
    },
    {
      what: `the proxy to record the barrier pull ${digest} in /v1/provenance`,
      attempts: 100,
      intervalMs: 50,
    },
  );
}
