// The record follows what the build touched, not how often, and keeps manifest facts, not
// bodies (issue 8, "the record keeps what it needs to answer the views").
import t from 'tap';
import type { OciEvent } from '../../src/oci/events.js';
import { BuildRecord } from '../../src/record/build-record.js';
import { imagesView } from '../../src/record/images-view.js';
import { resolveInputs } from '../../src/record/resolve-inputs.js';
import { digestOf, imageManifest, pushed, REGISTRY } from './record-events.js';

let n = 0;
const at = () => ({ exchangeId: `x-${++n}`, at: 1_800_000_000_000 + n });

function blobPull(digest: string, computedDigest: string, verification: 'verified' | 'mismatch'): OciEvent {
  return {
    ...at(),
    type: 'blobPulled',
    registry: REGISTRY,
    repository: 'loop/app',
    digest,
    computedDigest,
    size: 4,
    verification,
    redirectedTo: null,
    contentRange: null,
  };
}

t.test('a million-times loop costs one entry per distinct fact, with counts kept', async (t) => {
  const record = new BuildRecord();
  const blob = digestOf('blob');
  for (let i = 0; i < 10_000; i++) {
    record.apply(blobPull(blob, blob, 'verified'));
    record.apply({
      ...at(),
      type: 'artifactDownloaded',
      url: 'https://downloads.test/tool.tgz',
      method: 'GET',
      status: 200,
      size: 10,
      sha256: digestOf('tool'),
      contentType: null,
    });
    record.apply({
      ...at(),
      type: 'ociAnomaly',
      code: 'upload_session_unknown',
      registry: REGISTRY,
      repository: 'loop/app',
      detail: 'chunk for an upload session the proxy did not see start',
    });
  }
  t.equal(record.size, 30_000, 'every event is counted');
  t.equal(record.blobPulls.length, 1);
  t.equal(record.anomalies.length, 1);
  t.equal(record.downloads.length, 1);
  const inputs = resolveInputs(record);
  t.match(inputs.downloads, [{ url: 'https://downloads.test/tool.tgz', count: 10_000 }]);
  t.match(inputs.looseBlobs, [{ digest: blob, verification: 'verified' }]);
  // A different outcome for the same blob is a different fact, and is kept.
  record.apply(blobPull(blob, digestOf('other'), 'mismatch'));
  t.equal(record.blobPulls.length, 2);
  t.match(resolveInputs(record).looseBlobs, [{ digest: blob, verification: 'mismatch' }]);
});

t.test('the record keeps manifest facts, not bodies', async (t) => {
  const bytes = imageManifest('config', ['l1', 'l2', 'l1'], {
    annotations: { 'org.example.sbom': 'x'.repeat(100_000) },
  });
  const record = BuildRecord.from([pushed('facts/app', 'v1', bytes)]);
  const kept = record.pushes[0]!.event.manifest;
  t.same(kept, {
    kind: 'image',
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: null,
    blobs: [digestOf('config'), digestOf('l1'), digestOf('l2')],
    manifests: [],
    subject: null,
  });
  t.ok(JSON.stringify(record.pushes).length < 5_000, 'no annotation body in the record');
  t.match(imagesView(record).images, [{ digest: digestOf(bytes), tags: ['v1'] }]);
});
