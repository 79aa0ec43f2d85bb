import t from 'tap';
import { inTotoSlsaProvenanceV1Of, resourceUriOf } from '../../src/grafeas/provenance-mapping.js';
import type { OciEvent } from '../../src/oci/events.js';
import { INITIAL_INTERPRETER_STATE, interpret } from '../../src/oci/interpreter.js';
import { EgressTally } from '../../src/provenance/egress-summary.js';
import { reportableOutputs } from '../../src/provenance/reportable.js';
import {
  BUILD_TYPE,
  buildStatement,
  imageStatement,
  type StatementContext,
  validateStatementContext,
} from '../../src/provenance/statement.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_V1,
  SLSA_PROVENANCE_V1,
} from '../../src/provenance/statement-types.js';
import { BuildRecord } from '../../src/record/build-record.js';
import { checkStatement } from '../../src/verify/statement-check.js';
import { parseVerifyTarget } from '../../src/verify/verify-target.js';
import { exchangesByFlow, loadExpected, loadTrace } from '../oci/trace-replay.js';
import { digestOf, imageManifest, indexManifest, pushed } from '../record/record-events.js';

const flows = exchangesByFlow(loadTrace());
const expected = loadExpected();
const exchanges = [...flows.values()].flat().sort((a, b) => a.finishedAt - b.finishedAt);

function replayAll(): { record: BuildRecord; egress: EgressTally } {
  let state = INITIAL_INTERPRETER_STATE;
  const events: OciEvent[] = [];
  const egress = new EgressTally();
  for (const exchange of exchanges) {
    const result = interpret(state, exchange);
    state = result.state;
    events.push(...result.events);
    egress.addExchange(exchange);
  }
  egress.addTunnel({ authority: 'github.com:443', bytesFromClient: 100, bytesFromUpstream: 2000 });
  return { record: BuildRecord.from(events), egress };
}

const { record, egress } = replayAll();
const context: StatementContext = validateStatementContext({
  builderId: 'https://provenance-proxy.dev/builders/ci-cluster',
  builderVersion: '0.1.0',
  build: {
    namespace: 'builds',
    podName: 'build-42',
    podUid: '6f1c7a52-0000-4000-8000-000000000042',
    buildId: 'run-42',
    labels: { pipeline: 'release' },
  },
  proxyConfigDigest: digestOf('config'),
  policy: { intercept: ['*'], tunnel: ['github.com'] },
  invocationId: 'builds/build-42/6f1c7a52',
  startedOn: Date.UTC(2026, 10, 23, 8, 38, 0),
  finishedOn: Date.UTC(2026, 10, 23, 8, 40, 0),
  egress: egress.summary(),
});
const hex = (digest: string) => digest.slice('sha256:'.length);

t.test('the build statement: in-toto v1, SLSA v1, our buildType', async (t) => {
  const statement = buildStatement(record, context);
  t.equal(statement._type, IN_TOTO_STATEMENT_V1);
  t.equal(statement.predicateType, SLSA_PROVENANCE_V1);
  t.equal(statement.predicate.buildDefinition.buildType, BUILD_TYPE);
  t.same(statement.predicate.buildDefinition.externalParameters, {
    build: {
      namespace: 'builds',
      podName: 'build-42',
      podUid: '6f1c7a52-0000-4000-8000-000000000042',
      buildId: 'run-42',
      labels: { pipeline: 'release' },
    },
  });
  t.same(statement.predicate.buildDefinition.internalParameters, {
    proxyConfigDigest: digestOf('config'),
    policy: { intercept: ['*'], tunnel: ['github.com'] },
  });
  t.same(statement.predicate.runDetails.builder, {
    id: 'https://provenance-proxy.dev/builders/ci-cluster',
    version: { 'provenance-proxy': '0.1.0' },
  });
  t.same(statement.predicate.runDetails.metadata, {
    invocationId: 'builds/build-42/6f1c7a52',
    startedOn: '2026-11-23T08:38:00.000Z',
    finishedOn: '2026-11-23T08:40:00.000Z',
  });
});

t.test('subjects are exactly the acknowledged outputs, with our digests and their tags', async (t) => {
  const statement = buildStatement(record, context);
  const wanted = new Map<string, Set<string>>();
  for (const flow of expected.flows) {
    if (flow.kind !== 'push' || flow.manifests[0]?.subject) continue;
    const key = `${flow.registry}/${flow.repository} ${hex(flow.manifest_digest)}`;
    wanted.set(key, new Set([...(wanted.get(key) ?? []), ...flow.tags]));
  }
  t.same(
    statement.subject.map(
      (s) => `${s.name} ${s.digest?.sha256} [${((s.annotations?.['tags'] ?? []) as string[]).join(',')}]`,
    ),
    [...wanted.entries()].map(([key, tags]) => `${key} [${[...tags].sort().join(',')}]`).sort(),
  );
  const index = statement.subject.find((s) => s.name === 'registry.test:5000/lab/index');
  t.same(
    ((index?.annotations?.['children'] ?? []) as { digest: string }[]).map((c) => c.digest),
    expected.flows.find((f) => f.id === 'skopeo-index')!.manifests[0]!.children!.map((c) => c.digest),
    'children are annotations of their index, not subjects',
  );
  t.equal(index?.mediaType, 'application/vnd.oci.image.index.v1+json');
  const single = statement.subject.find((s) => s.name === 'registry.test:5000/lab/single');
  t.same(single?.annotations?.['attachments'], [
    'sha256:740fde8aa6626279e759bf7307cb9388741661deb77dea605ce348a3e3063da2',
  ]);
  t.match(single?.annotations?.['blobs'], { uploaded: 2, unaccounted: [] });
  for (const subject of statement.subject)
    t.match(subject.digest?.sha256, /^[a-f0-9]{64}$/, `${subject.name} digest is bare hex`);
});

t.test('resolvedDependencies: pulled manifests by digest, verified', async (t) => {
  const statement = buildStatement(record, context);
  const deps = statement.predicate.buildDefinition.resolvedDependencies ?? [];
  const wanted = new Set<string>();
  for (const flow of expected.flows) {
    for (const read of flow.registry_observed.manifest_reads) {
      const digest = read.ref.startsWith('sha256:') ? read.ref : flow.manifest_digest;
      wanted.add(`${flow.registry}/${read.repo}@${digest}`);
    }
  }
  t.same(
    deps.map((d) => d.uri),
    [...wanted].sort(),
  );
  for (const dep of deps) {
    t.equal(`sha256:${dep.digest?.sha256}`, dep.uri?.slice(dep.uri.indexOf('@') + 1), `${dep.uri} digest`);
    t.match(dep.annotations, { kind: 'oci-manifest', verification: 'verified' });
  }
  const multi = deps.find(
    (d) =>
      d.uri ===
      'registry.test:5000/lab/multi@sha256:872799a7fc053993bebf4db44e5750594514f38501897c0c663b7a6ae171649c',
  );
  t.match(
    multi?.annotations,
    { tags: ['v1'], blobs: { verified: 4, mismatched: [], unverifiable: [] } },
    'blob pulls linked to their manifest',
  );
  const child = deps.find((d) =>
    d.uri?.endsWith('af3c12d3e7b72c4a39b7d7c313fd9c3a09dd4fd0400d5da563dd0a983154acaa'),
  );
  t.same(child?.annotations?.['indexes'], [
    'sha256:d59577e49442239b3ee0ccee8d01c0aa04d3907b8c359f867476a6d9689265bb',
  ]);
});

t.test('byproducts: egress summary, attachments', async (t) => {
  const byproducts = buildStatement(record, context).predicate.runDetails.byproducts ?? [];
  const egressSummary = byproducts.find((b) => b.name === 'egress-summary');
  t.equal(egressSummary?.uri, 'urn:provenance-proxy:byproduct:egress-summary');
  t.same(
    ((egressSummary?.annotations?.['hosts'] ?? []) as { authority: string }[]).map((h) => h.authority),
    ['registry.test:5000', 'registry.test:5001', 'registry.test:5002', 'registry.test:5003'],
  );
  t.same(egressSummary?.annotations?.['unobservedTunnels'], [
    { authority: 'github.com:443', connections: 1, bytesFromClient: 100, bytesFromUpstream: 2000 },
  ]);
  const attachment = byproducts.find((b) => b.name === 'attachment');
  t.match(attachment, {
    uri: 'registry.test:5000/lab/single@sha256:740fde8aa6626279e759bf7307cb9388741661deb77dea605ce348a3e3063da2',
    annotations: {
      attachedTo: 'sha256:0653d8e834c93365b68cc01ceb9fff8b7a54f72dc7f6a92a31f5e54a1a4a2569',
      tags: ['note'],
    },
  });
  t.notOk(
    byproducts.some((b) => b.name === 'digest-disagreements'),
    'nothing disagreed',
  );
});

t.test('deterministic: the same record and context give the same bytes', async (t) => {
  const again = replayAll().record;
  t.equal(JSON.stringify(buildStatement(again, context)), JSON.stringify(buildStatement(record, context)));
});

t.test('consumers accept it: the verifier finds each subject, the Grafeas mapping takes it', async (t) => {
  const statement = buildStatement(record, context);
  const payload = Buffer.from(JSON.stringify(statement));
  for (const subject of statement.subject) {
    const reference = parseVerifyTarget(`${subject.name}@sha256:${subject.digest?.sha256}`);
    t.equal(checkStatement(IN_TOTO_PAYLOAD_TYPE, payload, reference).ok, true, subject.name!);
    t.equal(resourceUriOf(subject), `https://${subject.name}@sha256:${subject.digest?.sha256}`);
  }
  t.doesNotThrow(() => inTotoSlsaProvenanceV1Of(statement));
});

t.test('per-image statement: one subject, reported as soon as the push is acknowledged', async (t) => {
  const one = imageStatement(
    record,
    { ...context, finishedOn: null },
    {
      registry: 'registry.test:5000',
      repository: 'lab/index',
      digest: 'sha256:d59577e49442239b3ee0ccee8d01c0aa04d3907b8c359f867476a6d9689265bb',
    },
  );
  t.equal(one?.subject.length, 1);
  t.equal(one?.subject[0]?.name, 'registry.test:5000/lab/index');
  t.notOk(one?.predicate.runDetails.metadata?.finishedOn, 'not finished yet');
  t.equal(
    imageStatement(record, context, {
      registry: 'registry.test:5000',
      repository: 'lab/index',
      digest: 'sha256:af3c12d3e7b72c4a39b7d7c313fd9c3a09dd4fd0400d5da563dd0a983154acaa',
    }),
    null,
    'a child is not reported on its own',
  );
  t.equal(
    imageStatement(record, context, {
      registry: 'registry.test:5000',
      repository: 'lab/single',
      digest: 'sha256:740fde8aa6626279e759bf7307cb9388741661deb77dea605ce348a3e3063da2',
    }),
    null,
    'an attachment is not an output',
  );
});

t.test('children as subjects, when asked', async (t) => {
  const statement = buildStatement(record, context, { childrenAsSubjects: true });
  const child = statement.subject.find(
    (s) => s.digest?.sha256 === 'af3c12d3e7b72c4a39b7d7c313fd9c3a09dd4fd0400d5da563dd0a983154acaa',
  );
  t.match(child?.annotations, { role: 'index-child', indexTags: ['v1'] });
});

t.test('which outputs can be reported before the build ends', async (t) => {
  const child = imageManifest('c', ['l']);
  const index = indexManifest([{ bytes: child, arch: 'amd64' }]);
  const early = BuildRecord.from([pushed('lab/x', digestOf(child), child), pushed('lab/y', 'v1', child)]);
  const plan = reportableOutputs(early);
  t.same(
    plan.ready.map((i) => i.repository),
    ['lab/y'],
    'tagged: ready',
  );
  t.same(
    plan.awaitingIndex.map((i) => i.repository),
    ['lab/x'],
    'digest-only: its index may still come',
  );
  const later = BuildRecord.from([
    pushed('lab/x', digestOf(child), child),
    pushed('lab/x', digestOf(index), index),
  ]);
  t.same(
    reportableOutputs(later).ready.map((i) => i.digest),
    [digestOf(index)],
    'an index is ready even untagged',
  );
  t.same(reportableOutputs(later).awaitingIndex, []);
});

t.test('a bad context is refused once, naming the field', async (t) => {
  const bad: [Partial<StatementContext>, string][] = [
    [{ builderId: 'not a uri' }, 'builderId'],
    [{ builderVersion: '' }, 'builderVersion'],
    [{ proxyConfigDigest: 'sha1:abc' }, 'proxyConfigDigest'],
    [{ invocationId: '' }, 'invocationId'],
    [{ startedOn: Number.NaN }, 'startedOn'],
    [{ finishedOn: context.startedOn - 1 }, 'finishedOn'],
  ];
  for (const [override, field] of bad) {
    t.throws(
      () => validateStatementContext({ ...context, ...override }),
      { code: 'ERR_PROVENANCE_CONTEXT', field },
      field,
    );
  }
});
