// A manifest the capture budget kept the proxy from reading: still a push (digest computed over
// every byte), recorded as not inspected, with an explicit anomaly; never dropped.
import t from 'tap';
import { createOciStage } from '../../src/oci/oci-stage.js';
import { BuildRecord } from '../../src/record/build-record.js';
import { imagesView } from '../../src/record/images-view.js';
import { exchange, ofType, REGISTRY, sha256 } from './exchange-builder.js';

const REPO = 'lab/budget';
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('c'), size: 1 },
    layers: [],
  }),
);
const digest = sha256(manifest);

function overBudget(stage: ReturnType<typeof createOciStage>, spec: Parameters<typeof exchange>[1]) {
  const built = exchange(stage, spec);
  const side = spec.method === 'PUT' ? 'request' : 'response';
  return stage.accept({ ...built, [side]: { ...built[side], captured: null, captureBudgetExceeded: true } });
}

t.test('a manifest PUT past the capture budget is recorded, unparsed, with an anomaly', async (t) => {
  const stage = createOciStage();
  const events = overBudget(stage, {
    method: 'PUT',
    target: `/v2/${REPO}/manifests/v1`,
    requestHeaders: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    requestBody: manifest,
    status: 201,
    responseHeaders: { 'docker-content-digest': digest },
  });
  t.match(ofType(events, 'manifestPushed'), [
    {
      digest,
      size: manifest.length,
      manifest: null,
      kind: 'image',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      unparsed: { reason: 'capture_budget_exceeded' },
    },
  ]);
  t.match(ofType(events, 'ociAnomaly'), [
    { code: 'manifest_not_inspected', registry: REGISTRY, repository: REPO },
  ]);
  const [image] = imagesView(BuildRecord.from(events)).images;
  t.match(image, { digest, tags: ['v1'], unparsed: { reason: 'capture_budget_exceeded' } });
});

t.test('a manifest GET past the capture budget is an input, unparsed, with an anomaly', async (t) => {
  const stage = createOciStage();
  const events = overBudget(stage, {
    method: 'GET',
    target: `/v2/${REPO}/manifests/${digest}`,
    status: 200,
    responseHeaders: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    responseBody: manifest,
  });
  t.match(ofType(events, 'manifestPulled'), [
    { digest, verification: 'verified', manifest: null, unparsed: { reason: 'capture_budget_exceeded' } },
  ]);
  t.equal(ofType(events, 'ociAnomaly')[0]?.code, 'manifest_not_inspected');
});
