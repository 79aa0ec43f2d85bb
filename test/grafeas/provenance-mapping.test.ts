import t from 'tap';
import { decodeMessage } from '../../src/grafeas/json-codec.js';
import { isNoteId } from '../../src/grafeas/names.js';
import {
  builderVersionOf,
  buildNoteFor,
  grafeasEnvelopeOf,
  inTotoSlsaProvenanceV1Of,
  noteIdForBuilder,
  resourceUriOf,
} from '../../src/grafeas/provenance-mapping.js';
import { NOTE, OCCURRENCE } from '../../src/grafeas/schema.js';
import { digestOf, signedReport, statementFor } from './statements.js';

t.test('note ids: readable, stable, distinct per builder, valid', async (t) => {
  const id = noteIdForBuilder('https://provenance-proxy.dev/builder@v0.1.0');
  t.match(id, /^https-provenance-proxy-dev-builder-v0-1-0-[0-9a-f]{12}$/);
  t.equal(noteIdForBuilder('https://provenance-proxy.dev/builder@v0.1.0'), id, 'same builder, same note');
  t.not(noteIdForBuilder('https://provenance-proxy.dev/builder@v0.1.1'), id);
  t.not(noteIdForBuilder('HTTPS://provenance-proxy.dev/builder@v0.1.0'), id, 'case matters in the hash');
  for (const builder of ['x'.repeat(500), '///', 'ünïcödé', 'a']) {
    const noteId = noteIdForBuilder(builder);
    t.ok(isNoteId(noteId), `${builder.slice(0, 10)} → ${noteId}`);
  }
});

t.test('builderVersion: the version map, or the id', async (t) => {
  t.equal(builderVersionOf({ id: 'b', version: { z: '2', a: '1' } }), 'a=1,z=2');
  t.equal(builderVersionOf({ id: 'https://b/x@v1' }), 'https://b/x@v1');
  t.same(buildNoteFor({ id: 'b', version: { p: '0.1.0' } }).build, { builderVersion: 'p=0.1.0' });
  t.same(
    decodeMessage(NOTE, buildNoteFor({ id: 'b' }), 'note'),
    buildNoteFor({ id: 'b' }),
    'a valid v1 Note',
  );
});

t.test('resource URIs', async (t) => {
  const hex = digestOf('x');
  const good: [string, string][] = [
    ['registry.test:5000/lab/zstd', `https://registry.test:5000/lab/zstd@sha256:${hex}`],
    ['docker.io/library/alpine', `https://docker.io/library/alpine@sha256:${hex}`],
    ['ghcr.io/org/team/app-1.x', `https://ghcr.io/org/team/app-1.x@sha256:${hex}`],
  ];
  for (const [name, uri] of good) t.equal(resourceUriOf({ name, digest: { sha256: hex } }), uri);
  const bad: [string | undefined, string | undefined, RegExp][] = [
    ['registry.test/app', undefined, /no sha256 digest/],
    ['registry.test/app', 'ABC', /no sha256 digest/],
    ['registry.test/App', hex, /not registry\/repository/],
    ['registry.test/app:v1', hex, /not registry\/repository/],
    ['https://registry.test/app', hex, /not registry\/repository/],
    ['app', hex, /not registry\/repository/],
    [undefined, hex, /not registry\/repository/],
  ];
  for (const [name, sha256, message] of bad) {
    t.throws(() => resourceUriOf({ ...(name ? { name } : {}), digest: sha256 ? { sha256 } : {} }), {
      code: 'ERR_GRAFEAS_MAPPING',
      message,
    });
  }
});

t.test('the statement as InTotoSlsaProvenanceV1', async (t) => {
  const statement = statementFor(['registry.test:5000/lab/a', 'registry.test:5000/lab/b']);
  const mapped = inTotoSlsaProvenanceV1Of(statement);
  t.equal(mapped._type, 'https://in-toto.io/Statement/v1');
  t.same(
    mapped.subject,
    statement.subject.map((s) => ({ name: s.name, digest: s.digest })),
    'subjects lose annotations: the proto has only name and digest',
  );
  t.same(mapped.predicate?.buildDefinition, statement.predicate.buildDefinition);
  t.same(mapped.predicate?.runDetails?.builder, statement.predicate.runDetails.builder);
  t.same(mapped.predicate?.runDetails?.metadata, {
    invocationId: 'ci/build-42/0f0e',
    startedOn: '2026-11-23T08:39:39.250Z',
    finishedOn: '2026-11-23T08:40:01Z',
  });
  const occurrence = { build: { inTotoSlsaProvenanceV1: mapped } };
  t.same(decodeMessage(OCCURRENCE, occurrence, 'occurrence'), occurrence, 'already in canonical v1 form');

  const broken = statementFor(['r.test/a']);
  broken.predicate.runDetails.metadata = { startedOn: 'soon' };
  t.throws(() => inTotoSlsaProvenanceV1Of(broken), { code: 'ERR_GRAFEAS_MAPPING', message: /startedOn/ });
});

t.test('the DSSE envelope as grafeas.v1.Envelope: same bytes, signature unpacked, keyid kept', async (t) => {
  const report = await signedReport('r1', statementFor(['r.test/a']));
  const envelope = grafeasEnvelopeOf(report.envelope);
  t.equal(envelope.payloadType, 'application/vnd.in-toto+json');
  t.same(Buffer.from(envelope.payload, 'base64'), Buffer.from(report.envelope.payload, 'base64'));
  t.same(envelope.signatures, [{ sig: report.envelope.signatures[0]!.sig, keyid: 'test-key' }]);
  const urlSafe = grafeasEnvelopeOf({ ...report.envelope, payload: 'aGk_-w' });
  t.equal(urlSafe.payload, 'aGk/+w==', 'any DSSE base64 becomes the standard form');
  t.throws(() => grafeasEnvelopeOf({ ...report.envelope, payload: '***' }), { code: 'ERR_GRAFEAS_MAPPING' });
});
