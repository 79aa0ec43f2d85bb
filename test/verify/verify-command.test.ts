import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { runVerifyCommand } from '../../src/cli/verify-command.js';
import { EXIT } from '../../src/exit-codes.js';
import { resourceUriOf } from '../../src/grafeas/provenance-mapping.js';
import { formatRepository } from '../../src/oci/reference.js';
import { IN_TOTO_PAYLOAD_TYPE, type InTotoStatement } from '../../src/provenance/statement-types.js';
import { FileSink } from '../../src/reporters/file-sink.js';
import type { DsseEnvelope } from '../../src/signing/envelope.js';
import { loadKeySigner } from '../../src/signing/key-signer.js';
import { ecdsaKeyFiles, ed25519KeyFiles } from '../signing/keys.js';
import { makeTempDirSync } from '../support/temp-dir.js';
import { statementFixture } from './statement-fixture.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function verify(args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runVerifyCommand(
    args,
    { write: (s: string) => (out += s) },
    { write: (s: string) => (err += s) },
  );
  return { code, out, err };
}

const keys = ecdsaKeyFiles();
const otherKeys = ed25519KeyFiles();
t.teardown(() => {
  keys.cleanup();
  otherKeys.cleanup();
});
const work = makeTempDirSync('verify');
const fixture = statementFixture({ tags: ['v1', 'latest'] });
const reference = `${fixture.name}@sha256:${fixture.hex}`;

async function signStatement(statement: unknown, spacing?: number): Promise<DsseEnvelope> {
  const signer = await loadKeySigner(keys.privatePath);
  return signer.sign(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement, null, spacing)));
}

function writeJson(name: string, value: unknown): string {
  const path = join(work, name);
  writeFileSync(path, JSON.stringify(value, null, 2));
  return path;
}

t.test('verifies an envelope file and prints builder, build, tags and inputs', async (t) => {
  const path = writeJson('good.json', await signStatement(fixture.statement));
  const run = await verify([reference, '--envelope', path, '--public-key', keys.publicPath]);
  t.equal(run.code, EXIT.ok.status, run.err);
  t.equal(run.err, '');
  t.match(run.out, `verify: OK ${reference}`);
  t.match(run.out, /builder: +https:\/\/provenance-proxy\.dev\/proxy@0\.1\.0/);
  t.match(run.out, /build: +build-1-uid/);
  t.match(run.out, /tags: +v1, latest/);
  t.match(run.out, /inputs: +1\n +registry\.test:5000\/library\/base@sha256:1{64}\n/);
});

t.test('--json prints a machine-readable result', async (t) => {
  const path = writeJson('good2.json', await signStatement(fixture.statement));
  const run = await verify([reference, '--envelope', path, '--public-key', keys.publicPath, '--json']);
  t.equal(run.code, 0, run.err);
  const result = JSON.parse(run.out);
  t.equal(result.verified, true);
  t.equal(result.reference, reference);
  t.equal(result.statements.length, 1);
  t.match(result.statements[0], {
    subject: { name: fixture.name, digest: `sha256:${fixture.hex}`, tags: ['v1', 'latest'] },
    builderId: 'https://provenance-proxy.dev/proxy@0.1.0',
    invocationId: 'build-1-uid',
    subjectCount: 1,
    inputs: [{ digest: { sha256: '1'.repeat(64) } }],
    signedBy: { publicKey: keys.publicPath },
  });
});

t.test('a .intoto.jsonl file with several lines: the one about this image verifies', async (t) => {
  const other = statementFixture({ name: 'registry.test:5000/lab/other' });
  const lines = [await signStatement(other.statement), await signStatement(fixture.statement)];
  const path = join(work, 'multi.intoto.jsonl');
  writeFileSync(path, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
  const run = await verify([
    reference,
    '--envelope',
    path,
    '--public-key',
    otherKeys.publicPath,
    '--public-key',
    keys.publicPath,
  ]);
  t.equal(run.code, 0, run.err);
  t.match(run.out, `source:     ${path}:2`);
});

t.test('non-canonical JSON in the payload verifies: the received bytes are verified', async (t) => {
  const path = writeJson('spaced.json', await signStatement(fixture.statement, 4));
  const run = await verify([reference, '--envelope', path, '--public-key', keys.publicPath]);
  t.equal(run.code, 0, run.err);
});

t.test('refusals exit non-zero with a distinct code and a reason line', async (t) => {
  const good = await signStatement(fixture.statement);
  const tamperedPayload = Buffer.from(
    Buffer.from(good.payload, 'base64').toString().replace('build-1-uid', 'build-2-uid'),
  ).toString('base64');
  const notSubject = statementFixture();
  const slsa02 = { ...fixture.statement, predicateType: 'https://slsa.dev/provenance/v0.2' };
  const cases: [string, string[], number, RegExp][] = [
    [
      'wrong key',
      ['--envelope', writeJson('a.json', good), '--public-key', otherKeys.publicPath],
      EXIT.signature.status,
      /no signature .* verifies/,
    ],
    [
      'tampered payload',
      [
        '--envelope',
        writeJson('b.json', { ...good, payload: tamperedPayload }),
        '--public-key',
        keys.publicPath,
      ],
      EXIT.signature.status,
      /no signature/,
    ],
    [
      'digest not a subject',
      [
        '--envelope',
        writeJson('c.json', await signStatement(notSubject.statement)),
        '--public-key',
        keys.publicPath,
      ],
      EXIT.notASubject.status,
      /is not a subject/,
    ],
    [
      'SLSA v0.2 predicate',
      ['--envelope', writeJson('d.json', await signStatement(slsa02)), '--public-key', keys.publicPath],
      EXIT.statement.status,
      /predicateType/,
    ],
    [
      'wrong payloadType',
      [
        '--envelope',
        writeJson(
          'e.json',
          await (await loadKeySigner(keys.privatePath)).sign(
            'application/json',
            Buffer.from(JSON.stringify(fixture.statement)),
          ),
        ),
        '--public-key',
        keys.publicPath,
      ],
      EXIT.statement.status,
      /payloadType/,
    ],
    [
      'not an envelope',
      ['--envelope', writeJson('f.json', { hello: 1 }), '--public-key', keys.publicPath],
      EXIT.signature.status,
      /payloadType/,
    ],
    [
      'missing envelope file',
      ['--envelope', join(work, 'absent.json'), '--public-key', keys.publicPath],
      EXIT.unavailable.status,
      /ENOENT/,
    ],
    [
      'missing key file',
      ['--envelope', writeJson('g.json', good), '--public-key', join(work, 'absent.pem')],
      EXIT.unavailable.status,
      /public key/,
    ],
    [
      'private key as public key',
      ['--envelope', writeJson('h.json', good), '--public-key', keys.privatePath],
      EXIT.unavailable.status,
      /private key/,
    ],
  ];
  for (const [label, args, code, reason] of cases) {
    const run = await verify([reference, ...args]);
    t.equal(run.code, code, `${label}: exit code`);
    t.match(run.err, /verify: FAILED: .+\n$/, `${label}: reason line last`);
    t.match(run.err, reason, label);
    t.equal(run.out, '', `${label}: nothing on stdout without --json`);
  }
  const json = await verify([
    reference,
    '--envelope',
    writeJson('i.json', good),
    '--public-key',
    otherKeys.publicPath,
    '--json',
  ]);
  t.match(JSON.parse(json.out), {
    verified: false,
    reason: 'no_matching_key',
    exitCode: EXIT.signature.status,
  });
});

t.test(
  '--require-finished refuses image statements and live snapshots; --builder-id a foreign builder',
  async (t) => {
    const unfinished = fixture.statement as InTotoStatement;
    const finished: InTotoStatement = {
      ...unfinished,
      predicate: {
        ...unfinished.predicate,
        runDetails: {
          ...unfinished.predicate.runDetails,
          metadata: { ...unfinished.predicate.runDetails.metadata, finishedOn: '2026-01-01T00:10:00Z' },
        },
      },
    };
    const live = writeJson('live.json', await signStatement(unfinished));
    const done = writeJson('done.json', await signStatement(finished));
    const base = (path: string) => [reference, '--envelope', path, '--public-key', keys.publicPath];

    t.equal(
      (await verify(base(live))).code,
      EXIT.ok.status,
      'without the flag, a snapshot verifies as before',
    );
    const refused = await verify([...base(live), '--require-finished']);
    t.equal(refused.code, EXIT.requirement.status);
    t.match(
      refused.err,
      /verify: FAILED: the statement is not of a finished build \(no runDetails\.metadata\.finishedOn\)/,
    );
    const accepted = await verify([...base(done), '--require-finished']);
    t.equal(accepted.code, EXIT.ok.status, accepted.err);
    t.match(accepted.out, /2026-01-01T00:10:00Z/);

    const builder = 'https://provenance-proxy.dev/proxy@0.1.0';
    t.equal((await verify([...base(done), '--builder-id', builder])).code, EXIT.ok.status);
    for (const other of [`${builder}x`, 'https://provenance-proxy.dev/proxy@0.1', builder.toUpperCase()]) {
      const foreign = await verify([...base(done), '--builder-id', other]);
      t.equal(foreign.code, EXIT.requirement.status, other);
      t.match(foreign.err, `the builder is "${builder}", not ${JSON.stringify(other)}`);
    }
    const json = await verify([...base(live), '--require-finished', '--builder-id', builder, '--json']);
    t.match(JSON.parse(json.out), {
      verified: false,
      reason: 'not_finished',
      exitCode: EXIT.requirement.status,
    });

    // Of two envelopes about the image, the finished one is chosen; the snapshot alone is not enough.
    const both = join(work, 'both.intoto.jsonl');
    writeFileSync(
      both,
      `${readFileSync(live, 'utf8').replace(/\n\s*/g, '')}\n${readFileSync(done, 'utf8').replace(/\n\s*/g, '')}\n`,
    );
    const chosen = await verify([...base(both), '--require-finished', '--json']);
    t.equal(chosen.code, EXIT.ok.status, chosen.err);
    t.equal(JSON.parse(chosen.out).statements.length, 1, 'only the finished statement counts');
    t.equal(
      (await verify([...base(done), '--builder-id', ''])).code,
      EXIT.usage.status,
      'an empty builder id is a usage error',
    );
  },
);

t.test('usage errors exit 2 and show usage; --help exits 0', async (t) => {
  const envelope = writeJson('u.json', await signStatement(fixture.statement));
  const cases: string[][] = [
    [],
    [reference, '--envelope', envelope],
    [reference, '--public-key', keys.publicPath],
    [reference, '--envelope', envelope, '--grafeas-url', 'http://x', '--public-key', keys.publicPath],
    [reference, '--grafeas-url', 'http://x', '--public-key', keys.publicPath],
    [reference, '--grafeas-url', 'ftp://x', '--grafeas-project', 'p', '--public-key', keys.publicPath],
    [reference, '--envelope', envelope, '--grafeas-project', 'p', '--public-key', keys.publicPath],
    ['registry.test/app:v1', '--envelope', envelope, '--public-key', keys.publicPath],
    [reference, reference, '--envelope', envelope, '--public-key', keys.publicPath],
    [reference, '--envelope', envelope, '--public-key', keys.publicPath, '--unknown'],
  ];
  for (const args of cases) {
    const run = await verify(args);
    t.equal(run.code, EXIT.usage.status, args.join(' '));
    t.match(run.err, /Usage: provenance-proxy verify/);
  }
  const help = await verify(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /Exit codes: 0 verified/);
});

t.test('what the file sink writes, verify accepts', async (t) => {
  const dir = makeTempDirSync('verify-sink');
  const sink = await FileSink.open({ directory: dir });
  const envelope = await signStatement(fixture.statement);
  await sink.deliver({ reportId: 'r1', kind: 'image', statement: fixture.statement, envelope });
  const file = join(dir, `registry.test_5000-lab-app-sha256-${fixture.hex}.intoto.jsonl`);
  const run = await verify([reference, '--envelope', file, '--public-key', keys.publicPath]);
  t.equal(run.code, 0, run.err);
});

/** A small stand-in for a Grafeas v1 store's occurrence listing (the real store is another module's). */
async function grafeasServer(
  occurrences: unknown[],
  options: { token?: string; pageSize?: number; status?: number } = {},
): Promise<{ url: string; requests: IncomingMessage[]; server: Server }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((request, response) => {
    requests.push(request);
    const url = new URL(request.url ?? '/', 'http://store');
    response.setHeader('content-type', 'application/json');
    if (options.status !== undefined) {
      response.statusCode = options.status;
      response.end(
        JSON.stringify({
          error: { code: options.status, message: 'caller lacks permission', status: 'PERMISSION_DENIED' },
        }),
      );
      return;
    }
    if (options.token !== undefined && request.headers.authorization !== `Bearer ${options.token}`) {
      response.statusCode = 401;
      response.end(JSON.stringify({ error: { code: 401, message: 'missing or wrong token' } }));
      return;
    }
    const match = /^resourceUrl="(.*)"$/.exec(url.searchParams.get('filter') ?? '');
    const selected = occurrences.filter((o) => (o as { resourceUri: string }).resourceUri === match?.[1]);
    const size = options.pageSize ?? 100;
    const start = Number(url.searchParams.get('pageToken') || '0');
    const page = selected.slice(start, start + size);
    const next = start + size < selected.length ? String(start + size) : '';
    response.end(JSON.stringify({ occurrences: page, ...(next ? { nextPageToken: next } : {}) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

function occurrence(
  id: string,
  statement: InTotoStatement,
  envelope: DsseEnvelope,
  resourceUri: string,
): unknown {
  return {
    name: `projects/builds/occurrences/${id}`,
    resourceUri,
    noteName: 'projects/builds/notes/provenance-proxy',
    kind: 'BUILD',
    build: { inTotoSlsaProvenanceV1: statement },
    envelope: {
      payload: envelope.payload,
      payloadType: envelope.payloadType,
      signatures: envelope.signatures.map((s) => ({ sig: s.sig, keyid: s.keyid })),
    },
  };
}

t.test('fetches occurrences from a Grafeas v1 store, across pages, with the bearer token', async (t) => {
  const resourceUri = `https://${reference}`;
  const envelope = await signStatement(fixture.statement);
  const other = statementFixture({ name: 'registry.test:5000/lab/other' });
  const store = await grafeasServer(
    [
      { name: 'projects/builds/occurrences/vuln', resourceUri, kind: 'VULNERABILITY', vulnerability: {} },
      occurrence(
        'o2',
        other.statement,
        await signStatement(other.statement),
        `https://${other.name}@sha256:${other.hex}`,
      ),
      occurrence('o3', fixture.statement, envelope, resourceUri),
    ],
    { token: 's3cr3t-token', pageSize: 1 },
  );
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, 's3cr3t-token\n');
  const args = [
    reference,
    '--grafeas-url',
    `${store.url}/`,
    '--grafeas-project',
    'builds',
    '--grafeas-token-file',
    tokenFile,
    '--public-key',
    keys.publicPath,
  ];
  const run = await verify(args);
  t.equal(run.code, 0, run.err);
  t.match(run.out, 'source:     projects/builds/occurrences/o3');
  t.equal(store.requests.length, 2, 'two pages of one occurrence each');
  const first = new URL(store.requests[0]!.url!, 'http://store');
  t.equal(first.pathname, '/v1/projects/builds/occurrences');
  t.equal(first.searchParams.get('filter'), `resourceUrl="${resourceUri}"`);
  t.equal(new URL(store.requests[1]!.url!, 'http://store').searchParams.get('pageToken'), '1');
  t.notMatch(run.out + run.err, /s3cr3t/);

  const json = await verify([...args, '--json']);
  t.equal(JSON.parse(json.out).statements[0].source, 'projects/builds/occurrences/o3');

  const noToken = await verify(args.slice(0, 5).concat(['--public-key', keys.publicPath]));
  t.equal(noToken.code, EXIT.unavailable.status);
  t.match(
    noToken.err,
    /verify: FAILED: Grafeas store answered HTTP 401 listing occurrences: missing or wrong token/,
  );
});

t.test('Grafeas: nothing stored, a refusing store, an unreachable store', async (t) => {
  const empty = await grafeasServer([]);
  const none = await verify([
    reference,
    '--grafeas-url',
    empty.url,
    '--grafeas-project',
    'p',
    '--public-key',
    keys.publicPath,
  ]);
  t.equal(none.code, EXIT.notFound.status);
  t.match(none.err, /verify: FAILED: no provenance envelope found/);

  const refusing = await grafeasServer([], { status: 403 });
  const denied = await verify([
    reference,
    '--grafeas-url',
    refusing.url,
    '--grafeas-project',
    'p',
    '--public-key',
    keys.publicPath,
  ]);
  t.equal(denied.code, EXIT.unavailable.status);
  t.match(denied.err, /HTTP 403 .*caller lacks permission/);

  const closed = await grafeasServer([]);
  const closedUrl = closed.url;
  await new Promise<void>((resolve) => closed.server.close(() => resolve()));
  const unreachable = await verify([
    reference,
    '--grafeas-url',
    closedUrl,
    '--grafeas-project',
    'p',
    '--public-key',
    keys.publicPath,
  ]);
  t.equal(unreachable.code, EXIT.unavailable.status);
  t.match(unreachable.err, /verify: FAILED: Grafeas store .* unreachable/);
});

t.test('Grafeas: a tampered stored payload and a foreign digest are refused', async (t) => {
  const resourceUri = `https://${reference}`;
  const envelope = await signStatement(fixture.statement);
  const tampered = {
    ...envelope,
    payload: Buffer.from(Buffer.from(envelope.payload, 'base64').toString().replace('"v1"', '"v9"')).toString(
      'base64',
    ),
  };
  const store = await grafeasServer([occurrence('t', fixture.statement, tampered, resourceUri)]);
  const run = await verify([
    reference,
    '--grafeas-url',
    store.url,
    '--grafeas-project',
    'p',
    '--public-key',
    keys.publicPath,
  ]);
  t.equal(run.code, EXIT.signature.status);

  // An occurrence filed under this image whose statement is about another digest.
  const foreign = statementFixture();
  const misfiled = await grafeasServer([
    occurrence('m', foreign.statement, await signStatement(foreign.statement), resourceUri),
  ]);
  const misfiledRun = await verify([
    reference,
    '--grafeas-url',
    misfiled.url,
    '--grafeas-project',
    'p',
    '--public-key',
    keys.publicPath,
  ]);
  t.equal(misfiledRun.code, EXIT.notASubject.status);
});

t.test(
  'an image pushed to host:443 verifies under every spelling, from a file and from the store',
  async (t) => {
    // The subject as the statement builder names an exchange addressed to reg.test:443, stored by
    // resourceUri the way the Grafeas sink stores it.
    const pushed = statementFixture({ name: formatRepository('reg.test:443', 'lab/app') });
    const envelope = await signStatement(pushed.statement);
    const file = writeJson('port-443.json', envelope);
    const store = await grafeasServer([
      occurrence('o443', pushed.statement, envelope, resourceUriOf(pushed.statement.subject[0]!)),
    ]);
    const canonical = `reg.test/lab/app@sha256:${pushed.hex}`;
    for (const spelling of ['reg.test:443', 'reg.test', 'REG.test.:443']) {
      const typed = `${spelling}/lab/app@sha256:${pushed.hex}`;
      const fromFile = await verify([typed, '--envelope', file, '--public-key', keys.publicPath, '--json']);
      t.equal(fromFile.code, EXIT.ok.status, `${typed} from a file: ${fromFile.err}`);
      t.equal(fromFile.code === 0 && JSON.parse(fromFile.out).reference, canonical);
      const fromStore = await verify([
        typed,
        ...['--grafeas-url', store.url, '--grafeas-project', 'builds', '--public-key', keys.publicPath],
      ]);
      t.equal(fromStore.code, EXIT.ok.status, `${typed} from the store: ${fromStore.err}`);
    }
    t.equal(store.requests.length, 3);
    for (const request of store.requests) {
      t.equal(
        new URL(request.url!, 'http://store').searchParams.get('filter'),
        `resourceUrl="https://${canonical}"`,
        'queried by the resourceUri the sink wrote',
      );
    }
    const otherPort = await verify([
      `reg.test:8443/lab/app@sha256:${pushed.hex}`,
      ...['--envelope', file, '--public-key', keys.publicPath],
    ]);
    t.not(otherPort.code, EXIT.ok.status, 'another port is another registry');
  },
);
