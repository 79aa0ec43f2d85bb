// The pure mapping from /v1/images to Chains' type hints; the report test covers it end to end.
import t from 'tap';
import { chainsResults, digestDisagreements, type PushedImage } from '../../src/tekton/chains-results.js';

const hex = (c: string) => c.repeat(64);
const image = (over: Partial<PushedImage>): PushedImage => ({
  registry: 'registry.test:5000',
  repository: 'lab/app',
  digest: `sha256:${hex('a')}`,
  registryDigest: `sha256:${hex('a')}`,
  role: 'output',
  deleted: false,
  digestAgreement: { registryDigest: true, locationDigest: null, reference: null },
  ...over,
});

t.test('attachments and deleted images are not outputs', async (t) => {
  const results = chainsResults([
    image({}),
    image({ repository: 'lab/app', digest: `sha256:${hex('b')}`, role: 'attachment' }),
    image({ repository: 'lab/gone', deleted: true }),
  ]);
  t.same(results.images, [`registry.test:5000/lab/app@sha256:${hex('a')}`]);
  t.same(Object.keys(results.files).sort(), ['ARTIFACT_OUTPUTS', 'IMAGES', 'IMAGE_DIGEST', 'IMAGE_URL']);
});

t.test('the same image in two repositories is two images: no single-image hints', async (t) => {
  const results = chainsResults([image({}), image({ repository: 'lab/copy' })]);
  t.equal(results.images.length, 2);
  t.same(Object.keys(results.files), ['IMAGES']);
});

t.test('a contradicted or malformed digest is a disagreement', async (t) => {
  t.same(digestDisagreements([image({})]), []);
  t.equal(digestDisagreements([image({ registryDigest: `sha256:${hex('c')}` })]).length, 1);
  t.equal(
    digestDisagreements([
      image({ digestAgreement: { registryDigest: null, locationDigest: false, reference: null } }),
    ]).length,
    1,
  );
  t.equal(digestDisagreements([image({ digest: 'sha256:short', registryDigest: null })]).length, 1);
  t.same(digestDisagreements([image({ role: 'attachment', registryDigest: `sha256:${hex('c')}` })]), []);
});
