// buildah and podman push images built in their own (private, vfs) storage through the proxy:
// chunked streaming PATCHes compressed on the fly, HEADs of uncompressed digests, mounts
// suggested by the blob-info cache, a manifest list pushed with --all, and zstd.
import t from 'tap';
import { assertRecordedExactly, repositories } from '../support/assert-recorded.js';
import { readRegistryContents } from '../support/ground-truth.js';
import { startLab } from '../support/lab.js';
import { buildLocalImage, buildLocalManifestList } from '../support/local-images.js';
import { MEDIA_TYPES } from '../support/manifest-types.js';

const lab = await startLab({
  name: 'buildah-podman',
  teardown: (fn) => t.teardown(fn),
  registries: ['open'],
});
const registry = lab.registry('open');
const to = (repositoryAndRef: string) => `docker://${registry.host}/${repositoryAndRef}`;

await buildLocalImage(lab.clients, {
  name: 'localhost/interop/app:v1',
  files: { 'etc/interop/app.txt': 'app\n', 'usr/share/interop/data.txt': 'data\n'.repeat(1000) },
});

t.test('buildah push', async (t) => {
  await lab.clients.buildahPush('localhost/interop/app:v1', to('bp/buildah:v1'));
  await assertRecordedExactly(t, lab, [repositories(registry, ['bp/buildah'])]);
});

t.test('buildah manifest push --all: a list of two platforms', async (t) => {
  await buildLocalImage(lab.clients, {
    name: 'localhost/interop/app-arm64:v1',
    files: { 'etc/interop/app.txt': 'app for arm64\n' },
    arch: 'arm64',
  });
  await buildLocalManifestList(lab.clients, 'localhost/interop/app-list:v1', [
    'localhost/interop/app:v1',
    'localhost/interop/app-arm64:v1',
  ]);
  await lab.clients.buildahManifestPush('localhost/interop/app-list:v1', to('bp/buildah-index:v1'));
  await assertRecordedExactly(t, lab, [repositories(registry, ['bp/buildah-index'])]);
});

t.test('podman push (blobs known elsewhere: mounted)', async (t) => {
  await lab.clients.podmanPush('localhost/interop/app:v1', to('bp/podman:v1'));
  await assertRecordedExactly(t, lab, [repositories(registry, ['bp/podman'])]);
});

t.test('podman push --compression-format zstd of a never-pushed image', async (t) => {
  await buildLocalImage(lab.clients, {
    name: 'localhost/interop/zstd:v1',
    files: { 'etc/zstd.txt': 'zstd\n' },
  });
  await lab.clients.podmanPush('localhost/interop/zstd:v1', to('bp/podman-zstd:v1'), {
    compressionFormat: 'zstd',
  });
  const contents = await readRegistryContents(registry, {
    includeRepository: (name) => name === 'bp/podman-zstd',
  });
  const layerTypes = contents.repositories[0]?.manifests[0]?.body.layers?.map((layer) => layer.mediaType);
  t.same(layerTypes, [MEDIA_TYPES.layerZstd], 'the registry holds a zstd layer');
  await assertRecordedExactly(t, lab, [repositories(registry, ['bp/podman-zstd'])]);
});

t.test('the whole record: exactly the registry, nothing else', async (t) => {
  await assertRecordedExactly(t, lab, [{ registry }], { nothingElse: true });
});
