// Issue 8, probe 6, with the real proxy CLI and Debian's docker-registry:
// - manifests captured at once share one budget (--max-capture-bytes-total); a PUT past it is
//   still relayed, hashed and recorded, and the record says its body was not inspected;
// - the record keeps manifest facts, not bodies, and the journal replay streams: after a build
//   that pushed 64 MiB of manifests, a proxy restarted with a 64 MiB heap starts and serves the
//   same /v1/images.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { ChunkedPusher } from '../support/chunked-pusher.js';
import { tlsThroughProxy } from '../support/clients.js';
import type { ImageRecord } from '../support/images-contract.js';
import { startLab } from '../support/lab.js';
import { MEDIA_TYPES } from '../support/manifest-types.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { RegistryClient } from '../support/registry-client.js';
import { waitUntil } from '../support/wait-until.js';

const MiB = 1024 * 1024;
const REPO = 'bounded/memory';
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const lab = await startLab({
  name: 'bounded-memory',
  teardown: (fn) => t.teardown(fn),
  registries: ['open'],
  withProxy: false,
});
const registry = lab.registry('open');
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
const configDigest = await new ChunkedPusher(registry.directClient()).uploadBlobInClosingPut(REPO, config);

/** An image manifest of about `size` bytes: the bulk is one annotation, as SBOM-in-annotation builds do. */
function bigManifest(size: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: config.length },
      layers: [],
      annotations: { 'org.example.pad': randomBytes(Math.floor(size / 2)).toString('hex') },
    }),
  );
}

function pusherThrough(proxy: RunningProxy): ChunkedPusher {
  return new ChunkedPusher(
    new RegistryClient({ host: registry.host, ca: proxy.trust.caPem, proxy: { url: proxy.url } }),
  );
}

async function metric(proxy: RunningProxy, name: string): Promise<number> {
  const line = (await proxy.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

async function imagesWhen(proxy: RunningProxy, count: number): Promise<ImageRecord[]> {
  return waitUntil(
    async () => {
      const images = await proxy.images();
      return images.length >= count ? images : undefined;
    },
    { what: `${count} images in /v1/images`, attempts: 200, intervalMs: 100 },
  );
}

/** Sends a manifest PUT's head and the first `sent` bytes of its body, and holds the rest. */
async function startHeldPut(proxy: RunningProxy, tag: string, body: Buffer, sent: number) {
  const socket: TLSSocket = await tlsThroughProxy(
    Number(new URL(proxy.url).port),
    'registry.test',
    registry.port,
    proxy.trust.caPem,
  );
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString('latin1');
  });
  socket.write(
    `PUT /v2/${REPO}/manifests/${tag} HTTP/1.1\r\nHost: ${registry.host}\r\nContent-Type: ${MEDIA_TYPES.ociManifest}\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  socket.write(body.subarray(0, sent));
  return {
    async finish(): Promise<string> {
      socket.write(body.subarray(sent));
      const status = await waitUntil(async () => /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1], {
        what: `the answer to the held PUT of ${tag}`,
        attempts: 200,
        intervalMs: 50,
      });
      socket.destroy();
      return status;
    },
  };
}

const proxy = await startProxy({
  dir: lab.dir,
  upstreamCaPath: lab.ca.caCertPath,
  extraArgs: ['--max-manifest-bytes', '4MiB', '--max-capture-bytes-total', '4MiB'],
});
t.teardown(() => proxy.stop());

t.test(
  'a manifest PUT past the global capture budget is relayed, hashed and recorded as not inspected',
  async (t) => {
    const held = bigManifest(3 * MiB);
    const heldPut = await startHeldPut(proxy, 'held', held, 2.5 * MiB);
    await waitUntil(
      async () => (await metric(proxy, 'provenance_proxy_captured_bytes_in_flight')) >= 2.5 * MiB,
      { what: 'the held PUT to fill the budget', attempts: 200, intervalMs: 50 },
    );
    const over = bigManifest(2 * MiB);
    const pushed = await pusherThrough(proxy).putManifest(REPO, 'over', over, MEDIA_TYPES.ociManifest);
    t.equal(pushed.status, 201, 'the registry acknowledged the PUT the proxy could not keep');
    t.equal(await heldPut.finish(), '201');

    const images = await imagesWhen(proxy, 2);
    const byTag = (tag: string) => images.find((image) => image.tags.includes(tag));
    t.match(byTag('over'), { digest: sha256(over), unparsed: { reason: 'capture_budget_exceeded' } });
    t.match(byTag('held'), { digest: sha256(held), unparsed: null });
    t.ok((await metric(proxy, 'provenance_proxy_capture_budget_exceeded_total')) >= 1, 'counted');
    t.equal(await metric(proxy, 'provenance_proxy_captured_bytes_in_flight'), 0, 'all given back');
    t.match(await proxy.metrics(), /provenance_proxy_oci_anomalies_total\{code="manifest_not_inspected"\} 1/);
  },
);

t.test('64 MiB of manifests, then a restart with a 64 MiB heap serves the same /v1/images', async (t) => {
  const pusher = pusherThrough(proxy);
  const count = 64;
  for (let i = 0; i < count; i++) {
    const response = await pusher.putManifest(REPO, `big-${i}`, bigManifest(MiB), MEDIA_TYPES.ociManifest);
    t.equal(response.status, 201, `push ${i}`);
  }
  const before = await imagesWhen(proxy, count + 2);
  await proxy.stop();

  const restarted = await startProxy({
    dir: lab.dir,
    upstreamCaPath: lab.ca.caCertPath,
    env: { NODE_OPTIONS: '--max-old-space-size=64' },
  });
  t.teardown(() => restarted.stop());
  t.same(await restarted.images(), before, 'the same images, rebuilt from the journal');
  const status = await readFile(`/proc/${restarted.pid()}/status`, 'utf8');
  t.comment(`restarted proxy: ${/VmRSS:\s+(\d+ kB)/.exec(status)?.[1]} RSS after replay`);
});
