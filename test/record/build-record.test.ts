import t from 'tap';
import { BuildRecord } from '../../src/record/build-record.js';
import { imagesView } from '../../src/record/images-view.js';
import { resolveImages } from '../../src/record/resolve-images.js';
import {
  deleted,
  digestOf,
  imageManifest,
  indexManifest,
  mounted,
  present,
  pushed,
  REGISTRY,
  uploaded,
} from './record-events.js';

const REPO = 'lab/app';

t.test('index children pushed before their index are linked under it, not separate outputs', async (t) => {
  const amd = imageManifest('cfg-amd', ['shared', 'amd']);
  const arm = imageManifest('cfg-arm', ['shared', 'arm']);
  const index = indexManifest([
    { bytes: amd, arch: 'amd64' },
    { bytes: arm, arch: 'arm64' },
  ]);
  const events = [
    uploaded(REPO, 'shared'),
    uploaded(REPO, 'amd'),
    uploaded(REPO, 'cfg-amd'),
    pushed(REPO, digestOf(amd), amd),
    present(REPO, 'shared'),
    mounted(REPO, 'arm', 'lab/base'),
    uploaded(REPO, 'cfg-arm'),
    pushed(REPO, digestOf(arm), arm),
    pushed(REPO, 'v1', index),
  ];
  const record = BuildRecord.from(events);

  const beforeIndex = imagesView(BuildRecord.from(events.slice(0, 4)));
  t.same(
    beforeIndex.images.map((i) => [i.digest, i.tags]),
    [[digestOf(amd), []]],
    'until the index arrives, a digest push is a tagless output',
  );

  const view = imagesView(record);
  t.equal(view.images.length, 1);
  const image = view.images[0]!;
  t.match(image, {
    repository: REPO,
    tags: ['v1'],
    digest: digestOf(index),
    kind: 'index',
    mediaType: 'application/vnd.oci.image.index.v1+json',
  });
  t.same(image.children, [
    {
      digest: digestOf(amd),
      platform: { architecture: 'amd64', os: 'linux' },
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      pushed: true,
    },
    {
      digest: digestOf(arm),
      platform: { architecture: 'arm64', os: 'linux' },
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      pushed: true,
    },
  ]);
  t.same(
    image.blobs.uploaded,
    [digestOf('amd'), digestOf('cfg-amd'), digestOf('cfg-arm'), digestOf('shared')].sort(),
    'uploaded beats a later HEAD',
  );
  t.same(image.blobs.mounted, [digestOf('arm')]);
  t.same(image.blobs.mountedFrom, { [digestOf('arm')]: 'lab/base' });
  t.same(image.blobs.present, []);
  t.same(image.blobs.unaccounted, []);

  const children = resolveImages(record).filter((i) => i.role === 'child');
  t.same(
    children.map((c) => c.parents),
    [[digestOf(index)], [digestOf(index)]],
    'children know their index',
  );
});

t.test('a manifest pushed by digest alone, in no index, is an output without a tag', async (t) => {
  const bytes = imageManifest('c', ['l']);
  const view = imagesView(
    BuildRecord.from([uploaded(REPO, 'c'), mounted(REPO, 'l', null), pushed(REPO, digestOf(bytes), bytes)]),
  );
  t.match(view.images, [
    { digest: digestOf(bytes), tags: [], role: 'output', digestAgreement: { reference: true } },
  ]);
  t.same(view.images[0]?.blobs.mountedFrom, { [digestOf('l')]: null }, 'a mount without from=');
});

t.test('re-push and retag merge into one image with all its tags; a moved tag leaves', async (t) => {
  const one = imageManifest('c', ['l1']);
  const two = imageManifest('c', ['l2']);
  const record = BuildRecord.from([
    pushed(REPO, 'v1', one),
    pushed(REPO, 'v1', one),
    pushed(REPO, 'latest', one),
    pushed(REPO, 'stable', one),
    pushed(REPO, 'latest', two),
  ]);
  const view = imagesView(record);
  t.same(
    view.images.map((i) => [i.digest, i.tags, i.movedTags, i.pushCount]),
    [
      [digestOf(one), ['stable', 'v1'], ['latest'], 4],
      [digestOf(two), ['latest'], [], 1],
    ].sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1)),
  );
});

t.test('attachments: a subject, or a cosign tag, makes an attachment, never an output', async (t) => {
  const image = imageManifest('c', ['l']);
  const subject = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: digestOf(image),
    size: image.length,
  };
  const sbom = imageManifest('{}', ['sbom'], { artifactType: 'application/spdx+json', subject });
  const signature = imageManifest('sig-config', ['sig']);
  const fallbackIndex = indexManifest([{ bytes: sbom, arch: 'unknown' }]);
  const hex = digestOf(image).slice('sha256:'.length);
  const record = BuildRecord.from([
    pushed(REPO, 'v1', image),
    pushed(REPO, digestOf(sbom), sbom),
    pushed(REPO, `sha256-${hex}.sig`, signature),
    pushed(REPO, `sha256-${hex}`, fallbackIndex),
  ]);
  const byDigest = new Map(imagesView(record).images.map((i) => [i.digest, i]));
  t.equal(byDigest.size, 4, 'attachments are listed, with their subject');
  t.match(byDigest.get(digestOf(image)), { role: 'output', subject: null, tags: ['v1'] });
  t.same(
    byDigest.get(digestOf(image))?.attachments,
    [digestOf(fallbackIndex), digestOf(sbom), digestOf(signature)].sort(),
  );
  t.match(byDigest.get(digestOf(sbom)), {
    role: 'attachment',
    kind: 'artifact',
    subject: digestOf(image),
    attachedTo: digestOf(image),
  });
  // A cosign-tagged attachment names its subject by tag alone; the view reports it as the subject.
  t.match(byDigest.get(digestOf(signature)), {
    role: 'attachment',
    kind: 'artifact',
    subject: digestOf(image),
    attachedTo: digestOf(image),
    tags: [`sha256-${hex}.sig`],
  });
  t.match(byDigest.get(digestOf(fallbackIndex)), {
    role: 'attachment',
    kind: 'index',
    subject: null,
    attachedTo: digestOf(image),
  });
  t.same(
    resolveImages(record)
      .filter((i) => i.role === 'output')
      .map((i) => i.digest),
    [digestOf(image)],
    'one output',
  );
});

t.test('blobs are classified with what was known at manifest PUT time', async (t) => {
  const bytes = imageManifest('cfg', ['up', 'mnt', 'head', 'missing', 'late', 'bad', 'blind']);
  const record = BuildRecord.from([
    uploaded(REPO, 'cfg'),
    uploaded(REPO, 'up'),
    mounted(REPO, 'mnt', 'lab/base'),
    present(REPO, 'head'),
    present('lab/other', 'missing'), // another repository's HEAD says nothing about this one
    uploaded(REPO, 'bad', 'mismatch'),
    uploaded(REPO, 'blind', 'unverifiable'),
    pushed(REPO, 'v1', bytes),
    uploaded(REPO, 'late'),
  ]);
  const blobs = imagesView(record).images[0]!.blobs;
  t.same(blobs.uploaded, [digestOf('cfg'), digestOf('up')].sort());
  t.same(blobs.mounted, [digestOf('mnt')]);
  t.same(blobs.present, [digestOf('head')]);
  t.same(
    blobs.unaccounted,
    [digestOf('bad'), digestOf('blind'), digestOf('late'), digestOf('missing')].sort(),
  );
  t.same(
    blobs.uploadProblems,
    [
      { digest: digestOf('bad'), problem: 'mismatch' },
      { digest: digestOf('blind'), problem: 'unverifiable' },
    ].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
  );
});

t.test('registry identity includes the port', async (t) => {
  const bytes = imageManifest('c', ['l']);
  const view = imagesView(
    BuildRecord.from([pushed(REPO, 'v1', bytes), pushed(REPO, 'v1', bytes, 'registry.test:5001')]),
  );
  t.same(
    view.images.map((i) => i.registry),
    [REGISTRY, 'registry.test:5001'],
  );
});

t.test('deletes after the push are shown', async (t) => {
  const bytes = imageManifest('c', ['l']);
  const view = imagesView(BuildRecord.from([pushed(REPO, 'v1', bytes), deleted(REPO, digestOf(bytes))]));
  t.match(view.images, [{ deleted: true }]);
  const tagGone = imagesView(BuildRecord.from([pushed(REPO, 'v1', bytes), deleted(REPO, 'v1')]));
  t.match(tagGone.images, [{ tags: [], movedTags: ['v1'], deleted: false }]);
  const repushed = imagesView(
    BuildRecord.from([pushed(REPO, 'v1', bytes), deleted(REPO, digestOf(bytes)), pushed(REPO, 'v1', bytes)]),
  );
  t.match(repushed.images, [{ deleted: false, tags: ['v1'] }], 'pushed again after the delete');
});

t.test('the view does not depend on how parallel pushes interleave', async (t) => {
  const a = imageManifest('ca', ['la']);
  const b = imageManifest('cb', ['lb']);
  const one = [
    uploaded('lab/a', 'ca'),
    uploaded('lab/b', 'cb'),
    uploaded('lab/a', 'la'),
    uploaded('lab/b', 'lb'),
    pushed('lab/b', 'v1', b),
    pushed('lab/a', 'v1', a),
  ];
  const two = [one[1]!, one[3]!, one[0]!, one[2]!, one[5]!, one[4]!];
  t.same(
    JSON.stringify(imagesView(BuildRecord.from(one))),
    JSON.stringify(imagesView(BuildRecord.from(two))),
  );
  t.same(
    imagesView(BuildRecord.from(one)).images.map((i) => i.repository),
    ['lab/a', 'lab/b'],
  );
});

t.test('an index whose children were already in the registry', async (t) => {
  const child = imageManifest('c', ['l']);
  const index = indexManifest([{ bytes: child, arch: 'amd64' }]);
  const view = imagesView(BuildRecord.from([pushed(REPO, 'v1', index)]));
  t.match(view.images, [{ kind: 'index', children: [{ digest: digestOf(child), pushed: false }] }]);
  t.same(view.images[0]?.blobs, {
    uploaded: [],
    mounted: [],
    present: [],
    unaccounted: [],
    mountedFrom: {},
    uploadProblems: [],
  });
});

t.test('Docker Hub names are shown the way clients write them', async (t) => {
  const bytes = imageManifest('c', ['l']);
  const view = imagesView(
    BuildRecord.from([pushed('library/alpine', 'v1', bytes, 'registry-1.docker.io:443')]),
  );
  t.match(view.images, [
    {
      registry: 'docker.io',
      repository: 'library/alpine',
      authority: 'registry-1.docker.io:443',
      reference: `docker.io/library/alpine@${digestOf(bytes)}`,
    },
  ]);
});
