// skopeo pushes through the proxy to the open registry: the flows of ../shared/oci-flows.md §4
// (single, multi, zstd, index, re-push, new tag, push by digest, cross-repository mount,
// artifact with subject). After each flow the proxy's record must equal what the registry holds.
import t from 'tap';
import { assertRecordedExactly, repositories } from '../support/assert-recorded.js';
import { readRegistryContents } from '../support/ground-truth.js';
import { startLab } from '../support/lab.js';
import { MEDIA_TYPES } from '../support/manifest-types.js';
import { observedBlobs } from '../support/registry-log.js';

const lab = await startLab({ name: 'skopeo', teardown: (fn) => t.teardown(fn), registries: ['open'] });
const registry = lab.registry('open');
const to = (repositoryAndRef: string) => `docker://${registry.host}/${repositoryAndRef}`;

// Run first: zstd layers are only produced while no gzip variant is known (pitfall 9).
t.test('zstd layers', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('multi'), to('skopeo/zstd:v1'), {
    destCompressFormat: 'zstd',
  });
  const contents = await readRegistryContents(registry, {
    includeRepository: (name) => name === 'skopeo/zstd',
  });
  const layerTypes = contents.repositories[0]?.manifests[0]?.body.layers?.map((layer) => layer.mediaType);
  t.same([...new Set(layerTypes)], [MEDIA_TYPES.layerZstd], 'the registry holds zstd layers');
  await assertRecordedExactly(t, lab, [repositories(registry, ['skopeo/zstd'])]);
});

t.test('single-layer image', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('single'), to('skopeo/single:v1'));
  await assertRecordedExactly(t, lab, [repositories(registry, ['skopeo/single'])]);
});

t.test('multi-layer image (one 2 MiB layer)', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('multi'), to('skopeo/multi:v1'));
  await assertRecordedExactly(t, lab, [repositories(registry, ['skopeo/multi'])]);
});

t.test('multi-arch index (copy --all): children linked under the index', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('index'), to('skopeo/index:v1'), { all: true });
  await assertRecordedExactly(t, lab, [repositories(registry, ['skopeo/index'])]);
});

t.test('re-push of the same image and tag: still one image', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('multi'), to('skopeo/multi:v1'));
  await assertRecordedExactly(t, lab, [repositories(registry, ['skopeo/multi'])]);
});

t.test('new tag for the same image: tags merge', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('multi'), to('skopeo/multi:v2'));
  await assertRecordedExactly(t, lab, [repositories(registry, ['skopeo/multi'])]);
});

t.test('push by digest: an image without a tag', async (t) => {
  const multi = await readRegistryContents(registry, {
    includeRepository: (name) => name === 'skopeo/multi',
  });
  const digest = multi.repositories[0]?.tags.v1;
  t.ok(digest, 'skopeo/multi:v1 exists');
  await lab.clients.skopeoCopy(lab.fixtures.ref('multi'), to(`skopeo/bydigest@${digest}`));
  await assertRecordedExactly(t, lab, [repositories(registry, ['skopeo/bydigest'])]);
});

t.test('cross-repository mount (registry to registry copy)', async (t) => {
  await lab.clients.skopeoCopy(to('skopeo/multi:v1'), to('skopeo/multi-copy:v1'));
  const observed = observedBlobs(await registry.requestLog());
  const mounted = [...(observed.dispositions.get('skopeo/multi-copy')?.values() ?? [])].filter((d) =>
    d.has('mounted'),
  );
  t.ok(mounted.length > 0, 'the client really mounted blobs from another repository');
  await assertRecordedExactly(t, lab, [repositories(registry, ['skopeo/multi-copy'])]);
});

t.test('artifact with a subject (OCI 1.1 manifest with artifactType + subject)', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('artifact'), to('skopeo/single:note'));
  await assertRecordedExactly(t, lab, [repositories(registry, ['skopeo/single'])]);
});

t.test(
  'the whole record: exactly the registry, nothing else; provenance subjects are the outputs',
  async (t) => {
    await assertRecordedExactly(t, lab, [{ registry }], { nothingElse: true });
    const comparison = await lab.compare([{ registry }]);
    const outputs = comparison.expected
      .filter((image) => image.kind !== 'artifact' && image.subject === null)
      .map((image) => `${image.registry}/${image.repository}@${image.digest}`)
      .sort();
    const statement = await lab.proxy().provenance();
    const subjects = statement.subject
      .map((subject) => `${subject.name}@sha256:${subject.digest?.sha256}`)
      .sort();
    t.same(
      [...new Set(subjects)],
      outputs,
      'one subject per acknowledged output; no children, no attachments',
    );
  },
);
