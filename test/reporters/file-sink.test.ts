import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { IN_TOTO_PAYLOAD_TYPE, type InTotoStatement } from '../../src/provenance/statement-types.js';
import { FileSink, provenanceFileName } from '../../src/reporters/file-sink.js';
import { type SignedReport, SinkError } from '../../src/reporters/sink.js';
import { verifyEnvelope } from '../../src/signing/dsse.js';
import { KeySigner } from '../../src/signing/key-signer.js';
import { makeTempDirSync } from '../support/temp-dir.js';
import { statementFixture } from '../verify/statement-fixture.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const signer = KeySigner.fromPrivateKey(privateKey);
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

async function report(
  kind: 'image' | 'build',
  reportId: string,
  statement: InTotoStatement,
): Promise<SignedReport> {
  const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)));
  return { reportId, kind, statement, envelope };
}

const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter(Boolean);

t.test('an image report goes to a file named after its subject, one verifiable JSON line', async (t) => {
  const dir = makeTempDirSync('filesink');
  const sink = await FileSink.open({ directory: join(dir, 'provenance') });
  t.equal(sink.name, 'file');
  const { statement, hex } = statementFixture();
  const image = await report('image', 'img-1', statement);
  await sink.deliver(image);
  const name = `registry.test_5000-lab-app-sha256-${hex}.intoto.jsonl`;
  t.equal(provenanceFileName(image), name);
  t.same(readdirSync(join(dir, 'provenance')), [name], 'no temporary file left behind');
  const written = lines(join(dir, 'provenance', name));
  t.equal(written.length, 1);
  t.same(JSON.parse(written[0]!), image.envelope);
  t.match(verifyEnvelope(JSON.parse(written[0]!), [publicPem]), { ok: true });
});

t.test('the build report goes to build-<reportId>.intoto.jsonl', async (t) => {
  const dir = makeTempDirSync('filesink');
  const sink = await FileSink.open({ directory: dir });
  const build = await report('build', 'b-42', statementFixture().statement);
  await sink.deliver(build);
  t.same(readdirSync(dir), ['build-b-42.intoto.jsonl']);
  t.same(JSON.parse(readFileSync(join(dir, 'build-b-42.intoto.jsonl'), 'utf8')), build.envelope);
});

t.test(
  're-delivery never duplicates: identical content, or a re-signed envelope, replaces the line',
  async (t) => {
    const dir = makeTempDirSync('filesink');
    const sink = await FileSink.open({ directory: dir });
    const { statement } = statementFixture();
    const first = await report('image', 'img-1', statement);
    await sink.deliver(first);
    const path = join(dir, provenanceFileName(first));
    const before = readFileSync(path);
    await sink.deliver(first);
    t.same(readFileSync(path), before, 'same report twice: byte-identical file');
    const resigned = await report('image', 'img-1', statement);
    t.not(resigned.envelope.signatures[0]!.sig, first.envelope.signatures[0]!.sig, 'ECDSA signatures differ');
    await sink.deliver(resigned);
    const after = lines(path);
    t.equal(after.length, 1);
    t.same(JSON.parse(after[0]!), resigned.envelope);
  },
);

t.test('a later report about the same image adds a line; concurrent deliveries lose nothing', async (t) => {
  const dir = makeTempDirSync('filesink');
  const sink = await FileSink.open({ directory: dir });
  const blob = Buffer.from('one manifest');
  const reports = await Promise.all(
    ['v1', 'v2', 'v3', 'v4'].map((tag, i) =>
      report('image', `img-${i}`, statementFixture({ blob, tags: [tag] }).statement),
    ),
  );
  await Promise.all(reports.map((r) => sink.deliver(r)));
  await Promise.all(reports.map((r) => sink.deliver(r)));
  const path = join(dir, provenanceFileName(reports[0]!));
  const written = lines(path).map((line) => JSON.parse(line));
  t.equal(written.length, 4);
  t.same(new Set(written.map((e) => e.payload)), new Set(reports.map((r) => r.envelope.payload)));
  t.same(readdirSync(dir), [provenanceFileName(reports[0]!)]);
});

t.test('names are sanitised: no path separators, no hidden files, bounded length', async (t) => {
  const evil = statementFixture({ name: 'registry.test:5000/../../etc/passwd' }).statement;
  const name = provenanceFileName(await report('image', 'x', evil));
  t.notMatch(name, /\//);
  t.match(name, /^[A-Za-z0-9._-]+\.intoto\.jsonl$/);
  const build = provenanceFileName(await report('build', '../../.hidden/x', statementFixture().statement));
  t.match(build, /^build-[A-Za-z0-9._-]+\.intoto\.jsonl$/);
  t.notMatch(build, /\//);
  const long = statementFixture({ name: `registry.test/${'a'.repeat(400)}` }).statement;
  const longName = provenanceFileName(await report('image', 'y', long));
  t.ok(Buffer.byteLength(longName) <= 255 - 20, `length ${longName.length}`);
});

t.test('stale temporary files from a crash are removed at start; young ones are left', async (t) => {
  const dir = makeTempDirSync('filesink');
  const stale = join(dir, '.0123456789ab.intoto.tmp');
  const young = join(dir, '.ba9876543210.intoto.tmp');
  writeFileSync(stale, 'partial');
  writeFileSync(young, 'partial');
  const old = new Date(Date.now() - 3600_000);
  utimesSync(stale, old, old);
  await FileSink.open({ directory: dir });
  t.same(readdirSync(dir), ['.ba9876543210.intoto.tmp']);
});

t.test('an unusable directory is refused at start; a write failure is a retryable SinkError', async (t) => {
  const dir = makeTempDirSync('filesink');
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  await t.rejects(FileSink.open({ directory: file }), {
    code: 'ERR_SINK_FILE_CONFIG',
    message: /--provenance-dir/,
  });

  const target = join(dir, 'out');
  mkdirSync(target);
  const sink = await FileSink.open({ directory: target });
  if (process.getuid?.() === 0) {
    // root ignores permission bits: make the target path a directory instead so rename must fail.
    const image = await report('image', 'img', statementFixture().statement);
    mkdirSync(join(target, provenanceFileName(image)));
    const error = await sink.deliver(image).catch((e: unknown) => e);
    t.type(error, SinkError);
    t.match(error, { retryable: true, reason: /^io_e/ });
  } else {
    chmodSync(target, 0o500);
    t.teardown(() => chmodSync(target, 0o700));
    const error = await sink
      .deliver(await report('image', 'img', statementFixture().statement))
      .catch((e: unknown) => e);
    t.type(error, SinkError);
    t.match(error, { retryable: true, reason: 'io_eacces' });
  }
});

t.test('a report without an envelope is refused as not retryable', async (t) => {
  const sink = await FileSink.open({ directory: makeTempDirSync('filesink') });
  const broken = {
    reportId: 'r',
    kind: 'image',
    statement: statementFixture().statement,
  } as unknown as SignedReport;
  const error = await sink.deliver(broken).catch((e: unknown) => e);
  t.type(error, SinkError);
  t.match(error, { retryable: false, reason: 'invalid_report', code: 'ERR_SINK_FILE_REPORT' });
});
