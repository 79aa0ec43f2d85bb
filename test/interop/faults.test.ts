// Faults with nothing false and nothing lost (issue 3, item 12). A fault proxy in front of the
// real registry injects what the registry cannot produce on demand; the proxy under test sits
// between the client and the fault proxy. After each fault the record must still equal exactly
// what the registry holds.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { assertRecordedExactly, repositories } from '../support/assert-recorded.js';
import { ChunkedPusher } from '../support/chunked-pusher.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { deterministicBytes } from '../support/fixture-images.js';
import { startLab } from '../support/lab.js';
import { MEDIA_TYPES } from '../support/manifest-types.js';
import { RegistryClient } from '../support/registry-client.js';
import { tarArchive } from '../support/tar.js';

const lab = await startLab({ name: 'faults', teardown: (fn) => t.teardown(fn), registries: ['open'] });
const registry = lab.registry('open');
const fault = await startFaultProxy(registry, lab.ca);
t.teardown(() => fault.close());
const proxy = lab.proxy();
const viaFault = (repositoryAndRef: string) => `docker://${fault.host}/${repositoryAndRef}`;
const behindFault = (names: string[]) => repositories(registry, names, fault.host);

t.test('registry answers 500 on the manifest PUT: nothing recorded; the retry is', async (t) => {
  fault.addRule({
    name: 'manifest-500',
    method: 'PUT',
    path: /^\/v2\/faults\/error\/manifests\//,
    action: { kind: 'respond', status: 500 },
  });
  const failed = await lab.clients.skopeoCopyUnchecked(
    lab.fixtures.ref('single'),
    viaFault('faults/error:v1'),
  );
  t.not(failed.code, 0, 'skopeo reports the failure');
  t.equal((await fault.fired('manifest-500')).method, 'PUT');
  await assertRecordedExactly(t, lab, [behindFault(['faults/error'])], {
    expectNoImages: true,
    what: 'after the 500',
  });

  await lab.clients.skopeoCopy(lab.fixtures.ref('single'), viaFault('faults/error:v1'));
  await assertRecordedExactly(t, lab, [behindFault(['faults/error'])], { what: 'after the retry' });
});

t.test('416 on a chunk, then the client resends it: the blob is hashed once', async (t) => {
  fault.addRule({
    name: 'chunk-416',
    method: 'PATCH',
    path: /^\/v2\/faults\/chunked\/blobs\/uploads\//,
    skip: 1,
    action: { kind: 'respond', status: 416 },
  });
  const client = new RegistryClient({ host: fault.host, ca: proxy.trust.caPem, proxy: { url: proxy.url } });
  const pusher = new ChunkedPusher(client);
  const tar = tarArchive([
    { path: 'var/lib/interop/chunked.bin', content: deterministicBytes('chunked', 300 * 1024) },
  ]);
  const layer = gzipSync(tar);
  const uploaded = await pusher.uploadBlob('faults/chunked', layer, 100 * 1024);
  t.equal(uploaded.retriedChunks, 1, 'one chunk was refused with 416 and sent again');
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(tar).digest('hex')}`] },
    }),
  );
  const configDigest = await pusher.uploadBlobInClosingPut('faults/chunked', config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: MEDIA_TYPES.layerGzip, digest: uploaded.digest, size: layer.length }],
    }),
  );
  const put = await pusher.putManifest('faults/chunked', 'v1', manifest, MEDIA_TYPES.ociManifest);
  t.equal(put.status, 201, 'the registry acknowledged the manifest');
  await assertRecordedExactly(t, lab, [behindFault(['faults/chunked'])]);
});

t.test('connection reset in the middle of a PATCH: the failed attempt leaves no trace', async (t) => {
  fault.addRule({
    name: 'reset-mid-patch',
    method: 'PATCH',
    path: /^\/v2\/faults\/reset\/blobs\/uploads\//,
    action: { kind: 'reset-after', bytes: 512 * 1024 },
  });
  const failed = await lab.clients.skopeoCopyUnchecked(
    lab.fixtures.ref('multi'),
    viaFault('faults/reset:v1'),
  );
  t.equal((await fault.fired('reset-mid-patch')).method, 'PATCH');
  t.not(failed.code, 0, 'skopeo reports the failure');
  await assertRecordedExactly(t, lab, [behindFault(['faults/reset'])], {
    expectNoImages: true,
    what: 'after the reset',
  });

  await lab.clients.skopeoCopy(lab.fixtures.ref('multi'), viaFault('faults/reset:v1'));
  await assertRecordedExactly(t, lab, [behindFault(['faults/reset'])], { what: 'after the retry' });
});

t.test('client killed (SIGKILL) during a large blob upload: nothing recorded as pushed', async (t) => {
  fault.addRule({
    name: 'stall-large-upload',
    method: 'PATCH',
    path: /^\/v2\/faults\/killed\/blobs\/uploads\//,
    action: { kind: 'stall-after', bytes: 1024 * 1024 },
  });
  const push = lab.clients.startSkopeoCopy(lab.fixtures.ref('large'), viaFault('faults/killed:v1'));
  // The stall guarantees the kill lands mid-upload, without guessing at timing.
  await fault.fired('stall-large-upload');
  push.child.kill('SIGKILL');
  const result = await push.done;
  t.equal(result.signal, 'SIGKILL', 'skopeo was killed');
  fault.releaseStalls();
  await assertRecordedExactly(t, lab, [behindFault(['faults/killed'])], { expectNoImages: true });
  t.equal((await proxy.control('/readyz')).status, 200, 'the proxy is still ready');
});

t.test('proxy kill -9 after an acknowledged push, then restarted: the image is still recorded', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('multi'), `docker://${registry.host}/faults/durable:v1`);
  await assertRecordedExactly(t, lab, [repositories(registry, ['faults/durable'])], {
    what: 'before the kill',
  });
  await proxy.kill('SIGKILL');
  await proxy.restart();
  await assertRecordedExactly(t, lab, [repositories(registry, ['faults/durable'])], {
    what: 'after the restart',
  });

  await lab.clients.skopeoCopy(
    lab.fixtures.ref('single'),
    `docker://${registry.host}/faults/after-restart:v1`,
  );
  await assertRecordedExactly(t, lab, [repositories(registry, ['faults/after-restart'])], {
    what: 'a push after the restart',
  });
});

t.test('the whole record: exactly the registry, nothing else', async (t) => {
  const direct = ['faults/durable', 'faults/after-restart'];
  await assertRecordedExactly(
    t,
    lab,
    [
      { registry, addressedAs: fault.host, includeRepository: (name) => !direct.includes(name) },
      repositories(registry, direct),
    ],
    { nothingElse: true },
  );
});
