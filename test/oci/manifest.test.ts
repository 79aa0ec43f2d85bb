import t from 'tap';
import { MEDIA_TYPES, parseManifest } from '../../src/oci/manifest.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const body = (value: unknown) => Buffer.from(JSON.stringify(value));

const ociImage = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: { mediaType: MEDIA_TYPES.ociConfig, digest: d('1'), size: 10 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('2'), size: 20 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: d('3'), size: 30 },
  ],
  annotations: { 'org.opencontainers.image.source': 'https://example.test/repo' },
};
const ociIndex = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociIndex,
  manifests: [
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d('4'),
      size: 600,
      platform: { architecture: 'amd64', os: 'linux' },
    },
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d('5'),
      size: 600,
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    },
  ],
};
const dockerImage = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.dockerManifest,
  config: { mediaType: MEDIA_TYPES.dockerConfig, digest: d('1'), size: 10 },
  layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('2'), size: 20 }],
};
const dockerList = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.dockerManifestList,
  manifests: [
    {
      mediaType: MEDIA_TYPES.dockerManifest,
      digest: d('6'),
      size: 500,
      platform: { architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.1' },
    },
  ],
};
const artifact = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  artifactType: 'application/vnd.interop.note.v1+json',
  config: { mediaType: MEDIA_TYPES.ociEmpty, digest: d('7'), size: 2 },
  layers: [{ mediaType: 'application/vnd.interop.note.v1+json', digest: d('8'), size: 48 }],
  subject: { mediaType: MEDIA_TYPES.ociManifest, digest: d('9'), size: 459 },
};

t.test('the manifest kinds real clients push are parsed', async (t) => {
  const image = parseManifest(body(ociImage), MEDIA_TYPES.ociManifest);
  t.ok(image.ok);
  if (image.ok) {
    t.equal(image.manifest.kind, 'image');
    t.equal(image.manifest.format, 'oci-manifest');
    t.same(image.manifest.config, { mediaType: MEDIA_TYPES.ociConfig, digest: d('1'), size: 10 });
    t.same(
      image.manifest.layers.map((l) => [l.digest, l.mediaType]),
      [
        [d('2'), 'application/vnd.oci.image.layer.v1.tar+gzip'],
        [d('3'), 'application/vnd.oci.image.layer.v1.tar+zstd'],
      ],
      'layer media types come from the body',
    );
    t.same(image.manifest.annotations, ociImage.annotations);
    t.equal(image.manifest.subject, null);
    t.same(image.mediaTypes, {
      contentType: MEDIA_TYPES.ociManifest,
      bodyMediaType: MEDIA_TYPES.ociManifest,
      consistent: true,
    });
  }

  const index = parseManifest(body(ociIndex), `${MEDIA_TYPES.ociIndex}; charset=utf-8`);
  t.ok(index.ok);
  if (index.ok) {
    t.equal(index.manifest.kind, 'index');
    t.same(
      index.manifest.manifests.map((m) => [m.digest, m.platform]),
      [
        [d('4'), { architecture: 'amd64', os: 'linux' }],
        [d('5'), { architecture: 'arm64', os: 'linux', variant: 'v8' }],
      ],
    );
    t.equal(index.mediaTypes.contentType, MEDIA_TYPES.ociIndex, 'Content-Type parameters dropped');
  }

  const docker = parseManifest(body(dockerImage), MEDIA_TYPES.dockerManifest);
  t.ok(docker.ok && docker.manifest.kind === 'image' && docker.manifest.format === 'docker-manifest');

  const list = parseManifest(body(dockerList), MEDIA_TYPES.dockerManifestList);
  t.ok(list.ok);
  if (list.ok) {
    t.equal(list.manifest.kind, 'index');
    t.same(list.manifest.manifests[0]?.platform, {
      architecture: 'amd64',
      os: 'windows',
      'os.version': '10.0.17763.1',
    });
  }

  const art = parseManifest(body(artifact), MEDIA_TYPES.ociManifest);
  t.ok(art.ok);
  if (art.ok) {
    t.equal(art.manifest.kind, 'artifact');
    t.equal(art.manifest.artifactType, 'application/vnd.interop.note.v1+json');
    t.equal(art.manifest.subject?.digest, d('9'));
  }

  const helm = parseManifest(
    body({
      ...ociImage,
      config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: d('1'), size: 3 },
    }),
    MEDIA_TYPES.ociManifest,
  );
  t.ok(
    helm.ok &&
      helm.manifest.kind === 'artifact' &&
      helm.manifest.artifactType === 'application/vnd.cncf.helm.config.v1+json',
    'a non-image config makes an artifact',
  );

  const legacy = parseManifest(
    body({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociArtifactManifest,
      artifactType: 'x/y',
      blobs: [artifact.layers[0]],
      subject: artifact.subject,
    }),
    MEDIA_TYPES.ociArtifactManifest,
  );
  t.ok(legacy.ok && legacy.manifest.kind === 'artifact' && legacy.manifest.layers.length === 1);
});

t.test('media type: header and body are checked against each other', async (t) => {
  const silentBody = { ...ociImage } as Record<string, unknown>;
  delete silentBody['mediaType'];
  const fromHeader = parseManifest(body(silentBody), MEDIA_TYPES.ociManifest);
  t.ok(
    fromHeader.ok && fromHeader.manifest.mediaType === MEDIA_TYPES.ociManifest,
    'a body without mediaType is legal',
  );
  t.ok(fromHeader.mediaTypes.consistent);

  const byShape = parseManifest(body(silentBody), 'application/json');
  t.ok(
    byShape.ok && byShape.manifest.mediaType === MEDIA_TYPES.ociManifest,
    'generic Content-Type: decided by shape',
  );

  const noHeader = parseManifest(body(ociIndex), null);
  t.ok(noHeader.ok && noHeader.manifest.kind === 'index', 'no Content-Type: the body says');

  const disagree = parseManifest(body(ociImage), MEDIA_TYPES.dockerManifest);
  t.ok(disagree.ok, 'still parsed: the bytes were acknowledged');
  t.same(disagree.mediaTypes, {
    contentType: MEDIA_TYPES.dockerManifest,
    bodyMediaType: MEDIA_TYPES.ociManifest,
    consistent: false,
  });
  t.equal(disagree.ok && disagree.manifest.mediaType, MEDIA_TYPES.ociManifest, 'the body speaks for itself');

  const headerList = parseManifest(body(silentBody), [
    'application/vnd.oci.image.manifest.v1+json',
    'text/plain',
  ]);
  t.ok(headerList.ok, 'repeated header: the first value counts');
});

t.test('bad bodies give typed results, never exceptions', async (t) => {
  const cases: [string, Buffer, string | null, string][] = [
    ['malformed JSON', Buffer.from('{"schemaVersion": 2,'), MEDIA_TYPES.ociManifest, 'invalid_json'],
    ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01]), MEDIA_TYPES.ociManifest, 'invalid_json'],
    ['empty body', Buffer.alloc(0), MEDIA_TYPES.ociManifest, 'invalid_json'],
    ['JSON array', body([1, 2]), MEDIA_TYPES.ociManifest, 'not_an_object'],
    ['JSON string', body('manifest'), MEDIA_TYPES.ociManifest, 'not_an_object'],
    [
      'unknown media type',
      body({ ...ociImage, mediaType: 'application/vnd.example.thing+json' }),
      'application/vnd.example.thing+json',
      'unknown_media_type',
    ],
    [
      'unknown header, silent body',
      body({ schemaVersion: 2 }),
      'application/vnd.example.thing+json',
      'unknown_media_type',
    ],
    ['no type anywhere', body({ schemaVersion: 2, hello: 'world' }), null, 'unknown_media_type'],
    [
      'docker schema 1',
      body({ schemaVersion: 1, fsLayers: [] }),
      MEDIA_TYPES.dockerSchema1Signed,
      'unsupported_media_type',
    ],
    [
      'schemaVersion 1',
      body({ ...ociImage, schemaVersion: 1 }),
      MEDIA_TYPES.ociManifest,
      'invalid_structure',
    ],
    [
      'invalid layer digest',
      body({ ...ociImage, layers: [{ mediaType: 'x', digest: 'sha256:nothex', size: 1 }] }),
      MEDIA_TYPES.ociManifest,
      'invalid_structure',
    ],
    [
      'negative size',
      body({ ...ociImage, layers: [{ mediaType: 'x', digest: d('2'), size: -1 }] }),
      MEDIA_TYPES.ociManifest,
      'invalid_structure',
    ],
    [
      'missing config',
      body({ ...ociImage, config: undefined }),
      MEDIA_TYPES.ociManifest,
      'invalid_structure',
    ],
    ['layers not an array', body({ ...ociImage, layers: {} }), MEDIA_TYPES.ociManifest, 'invalid_structure'],
    [
      'index child without platform os',
      body({ ...ociIndex, manifests: [{ ...ociIndex.manifests[0], platform: { architecture: 'amd64' } }] }),
      MEDIA_TYPES.ociIndex,
      'invalid_structure',
    ],
    [
      'annotation not a string',
      body({ ...ociImage, annotations: { a: 1 } }),
      MEDIA_TYPES.ociManifest,
      'invalid_structure',
    ],
    [
      'subject not a descriptor',
      body({ ...artifact, subject: 'sha256:x' }),
      MEDIA_TYPES.ociManifest,
      'invalid_structure',
    ],
  ];
  for (const [name, bytes, contentType, reason] of cases) {
    const result = parseManifest(bytes, contentType);
    t.equal(result.ok, false, name);
    t.equal(!result.ok && result.reason, reason, `${name}: ${reason}`);
  }
});

t.test('a __proto__ annotation stays data', async (t) => {
  const text = `{"schemaVersion":2,"mediaType":"${MEDIA_TYPES.ociManifest}","config":${JSON.stringify(ociImage.config)},"layers":[],"annotations":{"__proto__":"x","a":"b"}}`;
  const result = parseManifest(Buffer.from(text), MEDIA_TYPES.ociManifest);
  t.ok(result.ok);
  if (result.ok) {
    t.equal(Object.getPrototypeOf(result.manifest.annotations), Object.prototype);
    t.same(Object.keys(result.manifest.annotations).sort(), ['__proto__', 'a']);
  }
});
