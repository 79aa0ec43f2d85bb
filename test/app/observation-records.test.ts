// Issue 9, "named stages": the observation journal's records are typed and versioned, and one reader
// validates each line against its kind. A line it cannot read is an error value, never a crash or a
// silent skip; a journal written by the previous writer (fixtures/) replays whole.
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t, { type Test } from 'tap';
import {
  type ObservationKind,
  observationLineKind,
  readObservation,
} from '../../src/app/observation-records.js';
import { replayObservations } from '../../src/app/observation-replay.js';
import { Journal } from '../../src/journal/journal.js';
import type { JournalEntry } from '../../src/journal/journal-line.js';
import { parseVersionedKind, versionedKind } from '../../src/journal/record-reader.js';
import type { OciEvent, OciEventType } from '../../src/oci/events.js';
import { imagesView } from '../../src/record/images-view.js';
import { captureLogger, LEVEL } from '../support/capture-logger.js';
import { makeTempDir } from '../support/temp-dir.js';

const FIXTURE = new URL('./fixtures/observations-f3ef03d.jsonl', import.meta.url);
const fixtureEntries = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => JSON.parse(line) as JournalEntry);

const D = (c: string) => `sha256:${c.repeat(64)}`;
const REPO = { exchangeId: 'x-1', at: 1_800_000_000_000, registry: 'reg.test:5000', repository: 'team/app' };

/** One good event per type (the compiler holds the list complete); most as the writer wrote them. */
const fromFixture = (type: OciEventType): OciEvent | undefined =>
  fixtureEntries.find((e) => e.kind === `oci.${type}`)?.data as OciEvent | undefined;
const OCI_SAMPLES: Record<OciEventType, OciEvent> = {
  blobUploaded: fromFixture('blobUploaded')!,
  blobMounted: fromFixture('blobMounted')!,
  blobPresent: fromFixture('blobPresent')!,
  manifestPushed: fromFixture('manifestPushed')!,
  manifestPulled: fromFixture('manifestPulled')!,
  blobPulled: fromFixture('blobPulled')!,
  artifactDownloaded: fromFixture('artifactDownloaded')!,
  manifestDeleted: fromFixture('manifestDeleted')!,
  ociAnomaly: fromFixture('ociAnomaly')!,
  manifestPresent: {
    ...REPO,
    type: 'manifestPresent',
    reference: { kind: 'tag', tag: 'v1' },
    registryDigest: D('a'),
  },
  digestMismatch: {
    ...REPO,
    type: 'digestMismatch',
    context: 'blob-pull',
    source: 'reference',
    expected: D('a'),
    observed: D('b'),
  },
  artifactUploaded: {
    exchangeId: 'x-2',
    at: 1,
    type: 'artifactUploaded',
    url: 'https://files.test/upload',
    method: 'PUT',
    status: 201,
    size: 3,
    sha256: D('c'),
    contentType: null,
  },
  blobDeleted: { ...REPO, type: 'blobDeleted', digest: D('d') },
  pushRefused: {
    exchangeId: 'x-3',
    at: 1,
    type: 'pushRefused',
    registry: 'reg.test:5000',
    repository: null,
    method: 'PUT',
    route: 'manifest-put',
    reason: 'not allowed',
  },
};

const fromFixtureKind = (kind: string) => fixtureEntries.find((e) => e.kind === kind)!.data;
const SAMPLES: Record<Exclude<ObservationKind, 'oci'>, unknown> = {
  'egress.tunnel': fromFixtureKind('egress.tunnel'),
  'egress.hosts': fromFixtureKind('egress.hosts'),
  'egress.refused': fromFixtureKind('egress.refused'),
  'build.finalized': fromFixtureKind('build.finalized'),
  'push.attempt': fromFixtureKind('push.attempt'),
  'push.settled': fromFixtureKind('push.settled'),
  'attestation.attached': fromFixtureKind('attestation.attached'),
  'journal.anchor': fromFixtureKind('journal.anchor'),
  // Kinds newer than the fixture's writer (issue 10's egress policy and capture checks).
  'egress.policy': {
    at: 1,
    hostname: 'elsewhere.test',
    port: 443,
    capturedBy: 'transparent-tls',
    verdict: 'refuse',
    rule: 'not in --egress-allow',
  },
  'capture.check': { at: 1, ok: true, ruleSetHash: 'sha256:00' },
  'capture.forged': { at: 1, reason: 'wrong_hash' },
};

/** A real journal in a fresh directory, with a logger whose records the test reads. */
async function tempJournal(t: Test) {
  const dir = await makeTempDir('observations');
  t.teardown(() => dir.remove());
  const { logger, records } = captureLogger();
  const registry = new Registry();
  const journal = await Journal.open({ dir: dir.path, logger, registry });
  t.teardown(() => journal.close());
  return { journal, logger, records, registry };
}

let seq = 0;
const entry = (kind: string, data: unknown): JournalEntry => ({
  seq: ++seq,
  at: '2026-11-29T12:00:00.000Z',
  kind,
  data,
  prev: D('0'),
  hash: D('1'),
});

t.test(
  'a good record of every kind reads back typed, at version 1, and is written under the same kind',
  async (t) => {
    for (const [type, event] of Object.entries(OCI_SAMPLES)) {
      t.ok(event, `a sample of ${type}`);
      const read = readObservation(entry(`oci.${type}`, event));
      t.same(read, { ok: true, record: { kind: 'oci', version: 1, data: event } }, `oci.${type}`);
      if (read.ok) t.equal(observationLineKind(read.record.kind, read.record.data), `oci.${type}`);
    }
    for (const [kind, data] of Object.entries(SAMPLES)) {
      const read = readObservation(entry(kind, data));
      t.same(read, { ok: true, record: { kind, version: 1, data } }, kind);
      if (read.ok) t.equal(observationLineKind(read.record.kind, read.record.data), kind);
    }
  },
);

t.test('every line the previous writer wrote reads back', async (t) => {
  const kinds = new Set(fixtureEntries.map((e) => e.kind));
  t.ok(kinds.size >= 14, `${kinds.size} kinds in the fixture`);
  for (const e of fixtureEntries) {
    const read = readObservation(e);
    if (!read.ok) t.fail(`seq ${e.seq} ${e.kind}: ${read.error.message}`);
  }
});

t.test('versions are spelled in the kind: none for 1, .vN after', async (t) => {
  t.same(parseVersionedKind('egress.hosts'), { name: 'egress.hosts', version: 1 });
  t.same(parseVersionedKind('egress.hosts.v2'), { name: 'egress.hosts', version: 2 });
  t.same(parseVersionedKind('oci.manifestPushed.v12'), { name: 'oci.manifestPushed', version: 12 });
  t.same(parseVersionedKind('a.v0'), { name: 'a.v0', version: 1 }, 'v0 is no version');
  t.equal(versionedKind('egress.hosts', 1), 'egress.hosts');
  t.equal(versionedKind('egress.hosts', 3), 'egress.hosts.v3');
});

t.test('an unknown kind or version is an error value naming the line, not a throw', async (t) => {
  const cases: [string, unknown, string, RegExp][] = [
    ['future.thing', { a: 1 }, 'ERR_JOURNAL_RECORD_KIND', /unknown record kind future\.thing/],
    ['oci.layerStreamed', { type: 'layerStreamed' }, 'ERR_JOURNAL_RECORD_KIND', /oci\.layerStreamed/],
    ['oci', OCI_SAMPLES.blobPresent, 'ERR_JOURNAL_RECORD_KIND', /unknown record kind oci$/],
    // Names an object inherits are no kinds: the catalogue looks up own names only.
    ['constructor', {}, 'ERR_JOURNAL_RECORD_KIND', /unknown record kind constructor/],
    ['oci.toString', { type: 'toString' }, 'ERR_JOURNAL_RECORD_KIND', /oci\.toString/],
    ['__proto__', {}, 'ERR_JOURNAL_RECORD_KIND', /__proto__/],
    ['egress.hosts.v2', SAMPLES['egress.hosts'], 'ERR_JOURNAL_RECORD_VERSION', /egress\.hosts version 2/],
    ['oci.manifestPushed.v3', OCI_SAMPLES.manifestPushed, 'ERR_JOURNAL_RECORD_VERSION', /version 3/],
  ];
  for (const [kind, data, code, message] of cases) {
    const e = entry(kind, data);
    const read = readObservation(e);
    t.equal(read.ok, false, kind);
    if (read.ok) continue;
    t.match(read.error, { code, seq: e.seq, kind, message }, kind);
    t.match(read.error.message, `journal seq ${e.seq} (${kind})`);
  }
});

t.test('each malformed shape is ERR_JOURNAL_RECORD_SHAPE naming the field', async (t) => {
  const pushed = OCI_SAMPLES.manifestPushed as Extract<OciEvent, { type: 'manifestPushed' }>;
  const cases: [string, unknown, RegExp][] = [
    ['build.finalized', null, /data is null, not an object/],
    ['build.finalized', [1], /data is array/],
    ['build.finalized', 'x', /data is string/],
    ['build.finalized', {}, /finishedOn: missing/],
    ['build.finalized', { finishedOn: '1' }, /finishedOn: expected number, got string/],
    ['push.settled', { exchangeId: null }, /exchangeId: is null/],
    ['egress.hosts', { hosts: 'all' }, /hosts: expected array/],
    ['egress.hosts', { hosts: [{ authority: 'a:443', requests: 1 }] }, /hosts: \[0\]\.bytesSent: missing/],
    [
      'egress.refused',
      { rule: 'anywhere', address: '1.2.3.4', port: 1, at: 1 },
      /rule: "anywhere" is not one of/,
    ],
    [
      'egress.tunnel',
      { ...(SAMPLES['egress.tunnel'] as object), failure: 'reset' },
      /failure: data is string/,
    ],
    [
      'push.attempt',
      { ...(SAMPLES['push.attempt'] as object), reference: { kind: 'branch' } },
      /reference: kind/,
    ],
    ['journal.anchor', { envelope: {} }, /envelope: payloadType: missing/],
    [
      'attestation.attached',
      { ...(SAMPLES['attestation.attached'] as object), alreadyPresent: 'no' },
      /alreadyPresent/,
    ],
    [
      'oci.blobPresent',
      { ...OCI_SAMPLES.blobPresent, type: 'blobPulled' },
      /type: "blobPulled" is not one of blobPresent/,
    ],
    ['oci.blobPresent', { ...OCI_SAMPLES.blobPresent, digest: 5 }, /digest: expected string, got number/],
    ['oci.blobUploaded', { ...OCI_SAMPLES.blobUploaded, verification: 'trusted' }, /verification/],
    ['oci.manifestPushed', { ...pushed, agreement: { registryDigest: 'yes' } }, /agreement: registryDigest/],
    [
      'oci.manifestPushed',
      { ...pushed, manifest: { ...pushed.manifest, layers: [{ digest: 1 }] } },
      /manifest: layers: \[0\]\.digest/,
    ],
    ['oci.manifestPushed', { ...pushed, reference: { kind: 'tag' } }, /reference: tag: missing/],
    ['oci.ociAnomaly', { ...OCI_SAMPLES.ociAnomaly, code: 'made_up' }, /code: "made_up"/],
    ['oci.blobPulled', { ...OCI_SAMPLES.blobPulled, contentRange: 7 }, /contentRange: expected string/],
  ];
  for (const [kind, data, message] of cases) {
    const read = readObservation(entry(kind, data));
    t.equal(read.ok, false, `${kind} ${JSON.stringify(data)?.slice(0, 60)}`);
    if (!read.ok) t.match(read.error, { code: 'ERR_JOURNAL_RECORD_SHAPE', kind, message }, kind);
  }
  // A field this reader does not know (an additive change by a newer writer) is kept, not refused.
  const extra = { ...OCI_SAMPLES.blobPresent, viaMirror: 'mirror.test' };
  t.same(readObservation(entry('oci.blobPresent', extra)), {
    ok: true,
    record: { kind: 'oci', version: 1, data: extra },
  });
  // Fields later writers added are optional: a line from before them still reads.
  const { contentRange: _, ...oldPull } = OCI_SAMPLES.blobPulled as Extract<OciEvent, { type: 'blobPulled' }>;
  t.equal(readObservation(entry('oci.blobPulled', oldPull)).ok, true, 'blobPulled without contentRange');
});

t.test("replay: the previous writer's journal rebuilds the build; nothing unreadable", async (t) => {
  const dir = await makeTempDir('replay-fixture');
  t.teardown(() => dir.remove());
  copyFileSync(FIXTURE, join(dir.path, 'observations.jsonl'));
  const { logger, records } = captureLogger();
  const registry = new Registry();
  const journal = await Journal.open({ dir: dir.path, logger, registry });
  t.teardown(() => journal.close());
  const replayed = await replayObservations(journal, logger, registry);
  t.equal(replayed.unreadable, 0);
  const ociLines = fixtureEntries.filter((e) => e.kind.startsWith('oci.')).length;
  t.equal(replayed.record.size, ociLines, 'every observation applied');
  const finalized = fixtureEntries.find((e) => e.kind === 'build.finalized')!.data as { finishedOn: number };
  t.equal(replayed.finishedOn, finalized.finishedOn, 'the finalize stamp stands: nothing came after it');
  t.equal(journal.lastSeq, fixtureEntries.length, 'every attempt was settled: nothing appended');
  t.ok(imagesView(replayed.record).images.length > 0, 'the pushed images are back');
  t.same(replayed.egress.summary().unobservedTunnels.length, 2, 'both tunnels');
  t.notOk(
    records.some((r) => r.level >= LEVEL.warn),
    'nothing to warn about',
  );
});

t.test('replay: unreadable lines are reported (log, metric, count) and the rest still applies', async (t) => {
  const { journal, logger, records, registry } = await tempJournal(t);
  await journal.append('oci.blobPresent', OCI_SAMPLES.blobPresent);
  await journal.append('egress.hosts.v2', { hostsByRegion: {} });
  await journal.append('future.thing', { a: 1 });
  await journal.append('egress.hosts', { hosts: 'all' });
  await journal.append('oci.manifestPushed', OCI_SAMPLES.manifestPushed);
  const replayed = await replayObservations(journal, logger, registry);
  t.equal(replayed.unreadable, 3);
  t.equal(replayed.record.size, 2, 'the readable observations before and after are applied');
  const warnings = records.filter((r) => r.msg.startsWith('journal line not replayed'));
  t.same(
    warnings.map((w) => [w['seq'], w['kind'], w['code']]),
    [
      [2, 'egress.hosts.v2', 'ERR_JOURNAL_RECORD_VERSION'],
      [3, 'future.thing', 'ERR_JOURNAL_RECORD_KIND'],
      [4, 'egress.hosts', 'ERR_JOURNAL_RECORD_SHAPE'],
    ],
  );
  const metric = await registry.getSingleMetric('provenance_proxy_journal_unreadable_records_total')?.get();
  t.same(Object.fromEntries((metric?.values ?? []).map((v) => [v.labels['code'], v.value])), {
    ERR_JOURNAL_RECORD_VERSION: 1,
    ERR_JOURNAL_RECORD_KIND: 1,
    ERR_JOURNAL_RECORD_SHAPE: 1,
  });
});

t.test('a flood of unreadable lines logs ten and a total, and counts them all', async (t) => {
  const { journal, logger, records, registry } = await tempJournal(t);
  for (let i = 0; i < 50; i++) await journal.append('future.thing', { i });
  const replayed = await replayObservations(journal, logger, registry);
  t.equal(replayed.unreadable, 50);
  t.equal(records.filter((r) => r.msg.startsWith('journal line not replayed:')).length, 10);
  t.match(
    records.find((r) => r.msg === 'journal lines not replayed in all'),
    { unreadable: 50 },
  );
});
