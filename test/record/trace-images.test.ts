import t, { type Test } from 'tap';
import { readObservation } from '../../src/app/observation-records.js';
import type { CompletedExchange } from '../../src/http/completed-exchange.js';
import type { OciEvent } from '../../src/oci/events.js';
import { INITIAL_INTERPRETER_STATE, interpret } from '../../src/oci/interpreter.js';
import { BuildRecord } from '../../src/record/build-record.js';
import { imagesView } from '../../src/record/images-view.js';
import { type ExpectedFlow, exchangesByFlow, loadExpected, loadTrace } from '../oci/trace-replay.js';

/**
 * Replays the recorded run (22 flows of skopeo, buildah and podman against distribution 2.8)
 * and holds the images view to the ground truth read back from the registries.
 */
const flows = exchangesByFlow(loadTrace());
const expected = loadExpected();

function replay(exchanges: readonly CompletedExchange[]): OciEvent[] {
  let state = INITIAL_INTERPRETER_STATE;
  const events: OciEvent[] = [];
  for (const exchange of exchanges) {
    const result = interpret(state, exchange);
    state = result.state;
    events.push(...result.events);
  }
  return events;
}

const sorted = (values: Iterable<string>) => [...values].sort();

t.test('every flow of the recording has ground truth and vice versa', async (t) => {
  t.same(sorted(flows.keys()), sorted(expected.flows.map((f) => f.id)));
});

for (const flow of expected.flows) {
  t.test(`${flow.id}: record matches what the registry holds`, async (t) => {
    const events = replay(flows.get(flow.id)!);
    const record = BuildRecord.from(events);
    const view = imagesView(record);

    t.same(record.mismatches, [], 'no digest disagreements');
    t.same(record.anomalies, [], 'no anomalies');
    t.same(record.downloads, [], 'token fetches and pings are not artifacts');
    t.same(record.uploads, []);
    t.ok(
      events.filter((e) => e.type === 'blobUploaded').every((e) => e.verification === 'verified'),
      'every uploaded blob verified by the proxy',
    );

    checkPulls(t, flow, record);
    if (flow.kind === 'pull') {
      t.same(view.images, [], 'a pull pushes nothing');
      return;
    }

    t.equal(view.images.length, 1, 'exactly one image (children are under their index)');
    const image = view.images[0]!;
    const manifest = flow.manifests[0]!;
    t.equal(image.registry, flow.registry);
    t.equal(image.authority, flow.registry);
    t.equal(image.repository, flow.repository);
    t.same(image.tags, sorted(flow.tags));
    t.equal(image.digest, flow.manifest_digest);
    t.equal(image.registryDigest, manifest.docker_content_digest);
    t.equal(image.mediaType, manifest.media_type);
    t.equal(image.kind, manifest.kind);
    t.equal(image.subject, manifest.subject?.digest ?? null);
    t.equal(image.role, manifest.subject ? 'attachment' : 'output');
    t.same(image.digestAgreement, {
      registryDigest: true,
      locationDigest: true,
      reference: flow.digest_refs.length > 0 ? true : null,
    });
    t.same(
      image.children.map((c) => ({ digest: c.digest, platform: c.platform, pushed: c.pushed })),
      (manifest.children ?? []).map((c) => ({
        digest: c.digest,
        platform: c.descriptor.platform ?? null,
        pushed: true,
      })),
    );

    const observed = flow.registry_observed;
    t.same(
      image.blobs.uploaded,
      sorted(observed.blobs_uploaded.filter((b) => b.repo === flow.repository).map((b) => b.digest)),
      'uploaded blobs',
    );
    t.same(image.blobs.mounted, sorted(observed.blobs_mounted.map((b) => b.digest)), 'mounted blobs');
    t.same(
      image.blobs.mountedFrom,
      Object.fromEntries(observed.blobs_mounted.map((b) => [b.digest, b.from])),
      'mount sources',
    );
    t.same(image.blobs.present, sorted(observed.blobs_already_present), 'blobs already present');
    t.same(image.blobs.unaccounted, [], 'nothing unaccounted');
  });
}

function checkPulls(t: Test, flow: ExpectedFlow, record: BuildRecord): void {
  const observed = flow.registry_observed;
  t.same(
    sorted(
      record.manifestPulls.map(
        (p) => `${p.repository} ${p.reference.kind === 'tag' ? p.reference.tag : p.reference.digest}`,
      ),
    ),
    sorted(observed.manifest_reads.map((r) => `${r.repo} ${r.ref}`)),
    'manifest reads',
  );
  t.ok(
    record.manifestPulls.every((p) => p.verification === 'verified'),
    'every manifest pull verified',
  );
  t.same(
    sorted(record.blobPulls.map((p) => `${p.repository} ${p.digest}`)),
    sorted(observed.blob_reads.map((r) => `${r.repo} ${r.digest}`)),
    'blob reads',
  );
  t.ok(
    record.blobPulls.every((p) => p.verification === 'verified' && p.computedDigest === p.digest),
    'every blob pull hashed to the digest asked for',
  );
  if (flow.kind === 'pull') {
    const top = record.manifestPulls.find((p) => p.reference.kind === 'tag');
    t.equal(top?.digest, flow.manifest_digest, 'pulled manifest digest is sha256 of the body received');
  }
}

t.test('the whole run as one build: images merge across flows', async (t) => {
  const all = [...flows.values()].flat().sort((a, b) => a.finishedAt - b.finishedAt);
  const view = imagesView(BuildRecord.from(replay(all)));
  const wanted = new Map<string, Set<string>>();
  for (const flow of expected.flows.filter((f) => f.kind === 'push')) {
    const key = `${flow.registry} ${flow.repository} ${flow.manifest_digest}`;
    const tags = wanted.get(key) ?? new Set<string>();
    for (const tag of flow.tags) tags.add(tag);
    wanted.set(key, tags);
  }
  t.same(
    view.images.map((i) => `${i.registry} ${i.repository} ${i.digest} [${i.tags.join(',')}]`),
    [...wanted.entries()].map(([key, tags]) => `${key} [${sorted(tags).join(',')}]`).sort(),
    'one entry per registry+repository+digest, tags merged (re-push, retag)',
  );
  const single = view.images.find(
    (i) => i.repository === 'lab/single' && i.registry === 'registry.test:5000' && i.role === 'output',
  );
  t.same(single?.tags, ['v1', 'v2']);
  t.equal(single?.pushCount, 3, 'skopeo-single, -repush and -retag pushed the same bytes');
  t.same(single?.attachments, ['sha256:740fde8aa6626279e759bf7307cb9388741661deb77dea605ce348a3e3063da2']);
  t.ok(
    view.images.every((i) => i.blobs.unaccounted.length === 0),
    'every referenced blob accounted for',
  );
  const sortedCopy = [...view.images].sort((a, b) =>
    `${a.authority} ${a.repository} ${a.digest}` < `${b.authority} ${b.repository} ${b.digest}` ? -1 : 1,
  );
  t.same(view.images, sortedCopy, 'deterministic order');
});

t.test('events are plain JSON: a journal replay rebuilds the same view', async (t) => {
  const all = [...flows.values()].flat();
  const events = replay(all);
  // Through JSON and the journal's reader, as a replay reads them: each one validated against its kind.
  const fromJournal = events.map((event, i): OciEvent => {
    const data: unknown = JSON.parse(JSON.stringify(event));
    const line = { seq: i + 1, at: '', kind: `oci.${event.type}`, data, prev: '', hash: '' };
    const read = readObservation(line);
    if (!read.ok || read.record.kind !== 'oci') throw new Error(`seq ${i + 1} unreadable`);
    return read.record.data;
  });
  t.same(fromJournal, events, 'nothing lost in JSON (no Buffer, Hash or undefined), every event readable');
  t.equal(
    JSON.stringify(imagesView(BuildRecord.from(fromJournal))),
    JSON.stringify(imagesView(BuildRecord.from(events))),
  );
});
