import { createHash, randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { ChunkedPusher } from './chunked-pusher.js';
import { connectTunnel } from './clients.js';
import { MANIFEST_ACCEPT, MEDIA_TYPES } from './manifest-types.js';
import { REGISTRY_HOSTNAME } from './pki.js';
import type { RunningProxy } from './proxy.js';
import type { RunningRegistry } from './registry.js';
import { waitUntil } from './wait-until.js';

/**
 * A hand-made client for the moments real clients do not choose: a manifest PUT written whole
 * on a TLS session through the proxy's CONNECT, after which the test decides what the client
 * does (reset the TCP connection, wait, ...). `raw` is the TCP socket under the TLS session,
 * so `raw.resetAndDestroy()` sends a real RST.
 */
export interface RawSession {
  readonly raw: Socket;
  readonly tls: TLSSocket;
}

export async function openThroughProxy(proxy: RunningProxy, authority: string): Promise<RawSession> {
  const { socket, status } = await connectTunnel(Number(new URL(proxy.url).port), authority);
  if (status !== 200) throw new Error(`CONNECT ${authority} answered ${status}`);
  const tls = await new Promise<TLSSocket>((resolve, reject) => {
    const session = tlsConnect(
      { socket, servername: REGISTRY_HOSTNAME, ca: proxy.trust.caPem, ALPNProtocols: ['http/1.1'] },
      () => resolve(session),
    );
    session.once('error', reject);
  });
  // The test resets or abandons the session: its errors are expected, never unhandled.
  tls.on('error', () => undefined);
  socket.on('error', () => undefined);
  return { raw: socket, tls };
}

export interface ManifestToPush {
  readonly repository: string;
  readonly tag: string;
  readonly body: Buffer;
  /** sha256 of `body`: what a correct record says was pushed. */
  readonly digest: string;
}

/** A fresh one-config manifest whose blob is already in the registry (uploaded directly). */
export async function freshManifest(registry: RunningRegistry, repository: string): Promise<ManifestToPush> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomUUID() }));
  const configDigest = await new ChunkedPusher(registry.directClient()).uploadBlobInClosingPut(
    repository,
    config,
  );
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: config.length },
      layers: [],
    }),
  );
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  return { repository, tag: 'v1', body, digest };
}

/** Writes the whole PUT; resolves once its last byte is in the kernel's send buffer. */
export function writeManifestPut(session: RawSession, host: string, manifest: ManifestToPush): Promise<void> {
  const head =
    `PUT /v2/${manifest.repository}/manifests/${manifest.tag} HTTP/1.1\r\n` +
    `Host: ${host}\r\nContent-Type: ${MEDIA_TYPES.ociManifest}\r\nContent-Length: ${manifest.body.length}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    session.tls.write(Buffer.concat([Buffer.from(head), manifest.body]), (error) =>
      error ? reject(error) : resolve(),
    );
  });
}

/** What the record says about one manifest, and what the registry holds under its tag. */
export interface PushVerdict {
  readonly pushed: boolean;
  readonly outcomeUnknown: boolean;
  /** `Docker-Content-Digest` of a direct GET of the tag; null when the registry does not have it. */
  readonly storedDigest: string | null;
  /** The statement names the digest as a subject (pushed) or in its anomalies (unknown). */
  readonly inStatement: { subject: boolean; anomaly: boolean };
  readonly unknownDetail: string | null;
}

interface ImagesBody {
  images: { digest: string; repository: string; tags: string[] }[];
  pushOutcomesUnknown?: { digest: string; repository: string; detail: string }[];
}

/**
 * Waits (bounded) until the proxy's record says something about the manifest, pushed or
 * outcome unknown, then reads the registry directly. Silence runs out the wait and fails.
 */
export async function pushVerdict(
  proxy: RunningProxy,
  registry: RunningRegistry,
  manifest: ManifestToPush,
): Promise<PushVerdict> {
  const images = await waitUntil(
    async () => {
      const { status, body } = await proxy.control('/v1/images');
      if (status !== 200) return undefined;
      const view = JSON.parse(body) as ImagesBody;
      const said =
        view.images.some((image) => image.digest === manifest.digest) ||
        (view.pushOutcomesUnknown ?? []).some((unknown) => unknown.digest === manifest.digest);
      return said ? view : undefined;
    },
    { what: `the record to say what became of ${manifest.digest}`, attempts: 200, intervalMs: 50 },
  );
  const unknown = (images.pushOutcomesUnknown ?? []).find((entry) => entry.digest === manifest.digest);
  const stored = await registry.directClient().request({
    path: `/v2/${manifest.repository}/manifests/${manifest.tag}`,
    headers: { accept: MANIFEST_ACCEPT },
  });
  const statement = await proxy.provenance();
  const hex = manifest.digest.replace(/^sha256:/, '');
  const anomalies = statement.predicate.runDetails.byproducts?.find((b) => b.name === 'oci-anomalies')
    ?.annotations?.anomalies as { code: string; digest?: string }[] | undefined;
  return {
    pushed: images.images.some((image) => image.digest === manifest.digest),
    outcomeUnknown: unknown !== undefined,
    storedDigest: stored.status === 200 ? String(stored.headers['docker-content-digest'] ?? '') : null,
    inStatement: {
      subject: statement.subject.some((subject) => subject.digest?.sha256 === hex),
      anomaly: (anomalies ?? []).some(
        (anomaly) => anomaly.code === 'push_outcome_unknown' && anomaly.digest === manifest.digest,
      ),
    },
    unknownDetail: unknown?.detail ?? null,
  };
}
