/**
 * The Grafeas sink against our store, end to end with real parts: the store on PGlite, reports
 * signed by the project's signer, HTTP over loopback (and TLS through a terminating relay).
 */
import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { GrafeasClient } from '../../src/grafeas/client.js';
import { formatFilter } from '../../src/grafeas/filter.js';
import {
  buildOccurrenceFor,
  grafeasEnvelopeOf,
  inTotoSlsaProvenanceV1Of,
  noteIdForBuilder,
  resourceUriOf,
} from '../../src/grafeas/provenance-mapping.js';
import type { Occurrence } from '../../src/grafeas/resources.js';
import { GrafeasSink } from '../../src/reporters/grafeas-sink.js';
import { SinkError } from '../../src/reporters/sink.js';
import { startStore } from '../../src/store/start-store.js';
import { storeCredentials } from '../store/store-tokens.js';
import { tempDir } from '../support/temp-dir.js';
import { BUILDER_ID, signedReport, statementFor, testSigner } from './statements.js';

const TOKEN = 'store-token-0123456789abcdef';
const dir = await tempDir(t, 'grafeas-sink');

/** Log lines of the store and the sink, to count requests and to look for secrets. */
const storeLog: string[] = [];
const sinkLog: string[] = [];
function capture(lines: string[]) {
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  return pino({ level: 'debug' }, stream);
}

const store = await startStore({
  listen: { host: '127.0.0.1', port: 0 },
  dataDir: join(dir, 'store'),
  credentials: await storeCredentials(dir, [
    { name: 'sink-tests', role: 'writer', projects: ['*'], token: TOKEN },
  ]),
  logger: capture(storeLog),
});
t.teardown(() => store.close());

const tokenFile = join(dir, 'token');
await writeFile(tokenFile, `${TOKEN}\n`);
const reader = new GrafeasClient({ baseUrl: store.url, token: async () => TOKEN });
t.teardown(() => reader.close());

function sinkFor(project: string, extra: Partial<ConstructorParameters<typeof GrafeasSink>[0]> = {}) {
  const sink = new GrafeasSink({
    url: store.url,
    project,
    tokenFile,
    signerPublicKeyPem: testSigner.publicKeyPem,
    logger: capture(sinkLog),
    ...extra,
  });
  t.teardown(() => sink.close());
  return sink;
}

async function occurrencesOf(project: string, image: string, sha256: string): Promise<Occurrence[]> {
  const resourceUrl = resourceUriOf({ name: image, digest: { sha256 } });
  const found: Occurrence[] = [];
  for await (const o of reader.allOccurrences(
    project,
    formatFilter([{ field: 'resourceUrl', value: resourceUrl }]),
  )) {
    found.push(o);
  }
  return found;
}

const rpcCount = (rpc: string) =>
  storeLog.filter((l) => l.includes(`"rpc":"${rpc}"`) && l.includes('"status":200')).length;

t.test('one note per builder, one occurrence per subject, in one batch', async (t) => {
  const images = ['registry.test:5000/lab/a', 'registry.test:5000/lab/b'];
  const statement = statementFor(images);
  const report = await signedReport('report-1', statement);
  const before = { notes: rpcCount('CreateNote'), batches: rpcCount('BatchCreateOccurrences') };
  await sinkFor('e2e-1').deliver(report);

  const noteName = `projects/e2e-1/notes/${noteIdForBuilder(BUILDER_ID)}`;
  const notes = await reader.listNotes('e2e-1');
  t.same(
    notes.notes?.map((n) => [n.name, n.kind, n.build?.builderVersion]),
    [[noteName, 'BUILD', 'provenance-proxy=0.1.0']],
  );
  t.equal(rpcCount('CreateNote') - before.notes, 1);
  t.equal(rpcCount('BatchCreateOccurrences') - before.batches, 1, 'two subjects, one batch');

  for (const subject of statement.subject) {
    const found = await occurrencesOf('e2e-1', subject.name!, subject.digest!.sha256!);
    t.equal(found.length, 1, `one occurrence for ${subject.name}`);
    const occurrence = found[0]!;
    t.equal(occurrence.resourceUri, `https://${subject.name}@sha256:${subject.digest!.sha256}`);
    t.equal(occurrence.noteName, noteName);
    t.equal(occurrence.kind, 'BUILD');
    t.same(
      Buffer.from(occurrence.envelope!.payload, 'base64'),
      Buffer.from(report.envelope.payload, 'base64'),
      'the signed bytes, unchanged',
    );
    t.same(occurrence.envelope!.signatures, [{ sig: report.envelope.signatures[0]!.sig, keyid: 'test-key' }]);
    const provenance = occurrence.build!.inTotoSlsaProvenanceV1!;
    t.equal(provenance.predicate?.runDetails?.builder?.id, BUILDER_ID);
    t.same(
      provenance.subject?.map((s) => s.name),
      images,
    );
  }
});

t.test('delivering the same report again, from a fresh sink, adds nothing', async (t) => {
  const statement = statementFor(['registry.test:5000/lab/again'], { invocationId: 'again' });
  const report = await signedReport('report-2', statement, 'image');
  const first = sinkFor('e2e-2');
  await first.deliver(report);
  await first.deliver(report);
  const notesBefore = rpcCount('CreateNote');
  await sinkFor('e2e-2').deliver(report); // a restarted proxy: empty note cache
  t.equal(rpcCount('CreateNote'), notesBefore, 'the existing note is found, not created again');
  const subject = statement.subject[0]!;
  t.equal(
    (await occurrencesOf('e2e-2', subject.name!, subject.digest!.sha256!)).length,
    1,
    'exactly one occurrence',
  );

  const resigned = await signedReport('report-2', statement, 'image');
  t.not(
    resigned.envelope.signatures[0]!.sig,
    report.envelope.signatures[0]!.sig,
    'ECDSA signs differently each time',
  );
  await first.deliver(resigned);
  t.equal(
    (await occurrencesOf('e2e-2', subject.name!, subject.digest!.sha256!)).length,
    1,
    'the same payload signed again is the same provenance',
  );

  const later = await signedReport(
    'report-3',
    statementFor(['registry.test:5000/lab/again'], { invocationId: 'later' }),
  );
  await first.deliver(later);
  t.equal(
    (await occurrencesOf('e2e-2', subject.name!, subject.digest!.sha256!)).length,
    2,
    'another statement is another occurrence',
  );
});

t.test('a look-alike (this payload, a junk signature) does not suppress the real write', async (t) => {
  const statement = statementFor(['registry.test:5000/lab/look-alike'], { invocationId: 'look-alike' });
  const report = await signedReport('report-10', statement, 'image');
  const subject = statement.subject[0]!;
  const noteName = `projects/e2e-8/notes/${noteIdForBuilder(BUILDER_ID)}`;
  // Another writer of the project got the payload first and stored it with a signature of its own.
  await reader.createNote('e2e-8', noteIdForBuilder(BUILDER_ID), {
    kind: 'BUILD',
    build: { builderVersion: 'provenance-proxy=0.1.0' },
  });
  const forged = await reader.createOccurrence('e2e-8', {
    resourceUri: resourceUriOf(subject),
    noteName,
    kind: 'BUILD',
    build: { inTotoSlsaProvenanceV1: (await occurrenceBody(report)).build!.inTotoSlsaProvenanceV1! },
    envelope: {
      payload: report.envelope.payload,
      payloadType: report.envelope.payloadType,
      signatures: [{ sig: Buffer.alloc(64, 7).toString('base64'), keyid: 'test-key' }],
    },
  });
  const warningsBefore = sinkLog.filter((l) => l.includes('"lookAlikes"')).length;
  await sinkFor('e2e-8').deliver(report);
  const found = await occurrencesOf('e2e-8', subject.name!, subject.digest!.sha256!);
  t.equal(found.length, 2, 'the real occurrence is written beside the look-alike');
  const written = found.find((o) => o.name !== forged.name)!;
  t.same(written.envelope?.signatures, [{ sig: report.envelope.signatures[0]!.sig, keyid: 'test-key' }]);
  const warnings = sinkLog.filter((l) => l.includes('"lookAlikes"')).slice(warningsBefore);
  t.ok(
    warnings.some((l) => l.includes('"level":40') && l.includes(forged.name!)),
    'a warning names the look-alike',
  );
  await sinkFor('e2e-8').deliver(report);
  t.equal(
    (await occurrencesOf('e2e-8', subject.name!, subject.digest!.sha256!)).length,
    2,
    'once the real one is there, a redelivery adds nothing',
  );

  // Without the public key the sink still refuses a foreign signature: only its own bytes count.
  const keyless = await signedReport('report-11', statementFor(['registry.test:5000/lab/keyless']), 'image');
  const keylessSubject = keyless.statement.subject[0]!;
  await reader.createOccurrence('e2e-8', {
    resourceUri: resourceUriOf(keylessSubject),
    noteName,
    kind: 'BUILD',
    build: { inTotoSlsaProvenanceV1: (await occurrenceBody(keyless)).build!.inTotoSlsaProvenanceV1! },
    envelope: { ...keyless.envelope, signatures: [{ sig: Buffer.alloc(64, 9).toString('base64') }] },
  });
  const bare = new GrafeasSink({ url: store.url, project: 'e2e-8', tokenFile, logger: capture(sinkLog) });
  t.teardown(() => bare.close());
  await bare.deliver(keyless);
  t.equal((await occurrencesOf('e2e-8', keylessSubject.name!, keylessSubject.digest!.sha256!)).length, 2);
});

t.test('after a crash between two subjects, only the missing one is written', async (t) => {
  const images = ['registry.test:5000/lab/p', 'registry.test:5000/lab/q', 'registry.test:5000/lab/r'];
  const report = await signedReport('report-4', statementFor(images, { invocationId: 'partial' }));
  // What a crash after writing the first subject leaves behind: its occurrence, written by an earlier run.
  await sinkFor('e2e-3').deliver({
    ...report,
    statement: { ...report.statement, subject: report.statement.subject.slice(0, 1) },
  });
  const single = rpcCount('CreateOccurrence');
  await sinkFor('e2e-3').deliver(report);
  t.equal(rpcCount('CreateOccurrence'), single, 'no single create');
  for (const subject of report.statement.subject) {
    t.equal(
      (await occurrencesOf('e2e-3', subject.name!, subject.digest!.sha256!)).length,
      1,
      `${subject.name}`,
    );
  }
});

t.test('a large build goes out in batches of the configured size', async (t) => {
  const images = Array.from({ length: 7 }, (_, i) => `registry.test:5000/lab/many-${i}`);
  const report = await signedReport('report-9', statementFor(images, { invocationId: 'many' }));
  const before = rpcCount('BatchCreateOccurrences');
  await sinkFor('e2e-7', { batchSize: 3 }).deliver(report);
  t.equal(rpcCount('BatchCreateOccurrences') - before, 3, '3 + 3 + 1');
  for (const subject of report.statement.subject) {
    t.equal(
      (await occurrencesOf('e2e-7', subject.name!, subject.digest!.sha256!)).length,
      1,
      `${subject.name}`,
    );
  }
});

t.test('the token file is read at each request and never logged', async (t) => {
  const sink = sinkFor('e2e-4');
  const report = await signedReport('report-5', statementFor(['registry.test:5000/lab/tok']));
  await writeFile(tokenFile, 'rotated-but-wrong-token\n');
  const refused = await sink.deliver(report).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(refused, SinkError);
  t.match(refused, {
    retryable: true,
    auth: true,
    reason: 'http_401',
    message: /UNAUTHENTICATED: a valid bearer token is required/,
  });

  await rm(tokenFile);
  const missing = await sink.deliver(report).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(missing, { retryable: true, reason: 'token_file', code: 'ERR_SINK_GRAFEAS_TOKEN' });

  await writeFile(tokenFile, `${TOKEN}\n`);
  await sink.deliver(report);
  const subject = report.statement.subject[0]!;
  t.equal((await occurrencesOf('e2e-4', subject.name!, subject.digest!.sha256!)).length, 1);
  const logs = [...sinkLog, ...storeLog].join('\n');
  t.notMatch(logs, TOKEN);
  t.notMatch(logs, 'rotated-but-wrong-token');
});

t.test('reports that cannot be written are refused for good', async (t) => {
  const sink = sinkFor('e2e-5');
  const statement = statementFor(['registry.test:5000/lab/ok']);
  statement.subject.push({ name: 'not a repository', digest: { sha256: 'f'.repeat(64) } });
  const error = await sink.deliver(await signedReport('report-6', statement)).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(error, { retryable: false, reason: 'invalid_report', code: 'ERR_SINK_GRAFEAS_REPORT' });
  t.same(await reader.listOccurrences('e2e-5'), {}, 'nothing half-written');

  const empty = statementFor([]);
  await sink.deliver(await signedReport('report-7', empty));
  t.same(await reader.listNotes('e2e-5'), {}, 'no subjects: nothing to write, not even the note');
});

t.test('options are validated once, naming the option', async (t) => {
  const logger = pino({ level: 'silent' });
  const cases: [Partial<ConstructorParameters<typeof GrafeasSink>[0]>, RegExp][] = [
    [{ url: 'ftp://x' }, /--grafeas-url.*http/],
    [{ url: 'not a url' }, /--grafeas-url.*not a URL/],
    [{ url: 'https://u:p@grafeas.test' }, /--grafeas-url.*credentials/],
    [{ url: 'https://grafeas.test/v1' }, /--grafeas-url.*without \/v1/],
    [{ url: 'https://grafeas.test/?x=1' }, /--grafeas-url.*query/],
    [{ project: 'bad/project' }, /--grafeas-project/],
    [{ tokenFile: '' }, /--grafeas-token-file/],
    [{ ca: [], agent: new https.Agent() }, /either/],
    [{ batchSize: 0 }, /batch size/],
    [{ batchSize: 1001 }, /batch size/],
    [{ timeoutMs: -1 }, /timeout/],
  ];
  for (const [options, message] of cases) {
    t.throws(
      () => new GrafeasSink({ url: 'https://grafeas.test', project: 'p', logger, ...options }),
      { code: 'ERR_INVALID_OPTION', message },
      JSON.stringify(Object.keys(options)),
    );
  }
});

t.test('https with an extra CA: trusted when given, refused (retryably) when not', async (t) => {
  const key = join(dir, 'relay.key');
  const cert = join(dir, 'relay.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=grafeas relay',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const pem = await readFile(cert, 'utf8');
  // A TLS-terminating relay in front of the real store.
  const target = new URL(store.url);
  const relay = https.createServer({ key: await readFile(key), cert: pem }, (req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => relay.close(() => resolve())));
  const url = `https://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  const report = await signedReport('report-8', statementFor(['registry.test:5000/lab/tls']));

  const untrusting = sinkFor('e2e-6', { url });
  const refused = await untrusting.deliver(report).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(refused, { retryable: true, reason: 'network', message: /self[- ]signed|certificate/i });

  await sinkFor('e2e-6', { url, ca: [pem] }).deliver(report);
  const subject = report.statement.subject[0]!;
  t.equal((await occurrencesOf('e2e-6', subject.name!, subject.digest!.sha256!)).length, 1);
});

/** The occurrence the sink would write for the report's first subject, built by the product's own mapping. */
async function occurrenceBody(report: Awaited<ReturnType<typeof signedReport>>): Promise<Occurrence> {
  const subject = report.statement.subject[0]!;
  return buildOccurrenceFor(
    resourceUriOf(subject),
    'projects/x/notes/y',
    inTotoSlsaProvenanceV1Of(report.statement),
    grafeasEnvelopeOf(report.envelope),
  );
}
