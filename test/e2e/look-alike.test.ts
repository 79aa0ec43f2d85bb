// Issue 8 probe 4, end to end with real parts: another writer of the project copies the payload
// of a report the proxy has not delivered yet (the store was down) and stores it first, with a
// junk signature. When the store is back, the proxy's sink must not take the look-alike for its
// own report: the real, verifiable occurrence is written beside it and the conflict is logged.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { inTotoSlsaProvenanceV1Of, noteIdForBuilder } from '../../src/grafeas/provenance-mapping.js';
import type { InTotoStatement } from '../../src/provenance/statement-types.js';
import { startStore } from '../../src/store/start-store.js';
import { StoreCredentials } from '../../src/store/store-credentials.js';
import { buildNote } from '../store/store-client.js';
import { bearer, type TestToken, writeTokensFile } from '../store/store-tokens.js';
import { waitUntil } from '../support/wait-until.js';
import { runVerify } from './support/cli.js';
import {
  labPath,
  pushThroughProxy,
  startReportingLab,
  startReportingProxy,
} from './support/reporting-lab.js';
import { prepareStore } from './support/store-process.js';
import { listBuildOccurrences, type StoredEnvelope } from './support/store-reader.js';

const { lab, registry, keys } = await startReportingLab('e2e-look-alike', (fn) => t.teardown(fn));

const project = 'builds';
const tokens = {
  sidecar: { name: 'this-pod', role: 'writer', projects: [project], token: 'sidecar-0123456789abcdef' },
  other: { name: 'another-pod', role: 'writer', projects: [project], token: 'other-pod-0123456789abcdef' },
} as const satisfies Record<string, TestToken>;
const home = labPath(lab, 'store');
const store = await prepareStore({ home, tokensFile: await writeTokensFile(lab.dir, Object.values(tokens)) });
t.teardown(() => store.stop());
const sidecarTokenFile = join(lab.dir, 'sidecar-token');
await writeFile(sidecarTokenFile, `${tokens.sidecar.token}\n`, { mode: 0o600 });

// The store is down: the proxy's report waits in its outbox; the file sink has it already.
const provenanceDir = labPath(lab, 'provenance');
const { proxy, clients } = await startReportingProxy({
  lab,
  dir: labPath(lab, 'proxy'),
  storeUrl: store.url,
  project,
  signingKeyPath: keys.privatePath,
  provenanceDir,
  grafeasTokenFile: sidecarTokenFile,
});
t.teardown(() => proxy.stop());
const push = await pushThroughProxy(clients, lab, registry, 'single', 'e2e/look-alike', 'v1');
const real = await waitUntil(() => envelopeFor(push.reference), {
  what: `the file sink's envelope for ${push.reference}`,
  attempts: 200,
  intervalMs: 50,
});

// The other pod writes the look-alike first: the same payload, the same statement, a junk signature.
const statement = JSON.parse(Buffer.from(real.payload, 'base64').toString('utf8')) as InTotoStatement;
const occurrences = await (async () => {
  const attacker = await startStore({
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: join(home, 'data'),
    credentials: StoreCredentials.load(await writeTokensFile(lab.dir, [tokens.other], 'other.json')),
    logger: pino({ level: 'silent' }),
  });
  try {
    const post = (path: string, body: unknown) =>
      fetch(`${attacker.url}${path}`, {
        method: 'POST',
        headers: { ...bearer(tokens.other.token), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const noteId = noteIdForBuilder(statement.predicate.runDetails.builder.id);
    await post(`/v1/projects/${project}/notes?noteId=${noteId}`, buildNote());
    const lookAlike = {
      resourceUri: push.resourceUrl,
      noteName: `projects/${project}/notes/${noteId}`,
      kind: 'BUILD',
      build: { inTotoSlsaProvenanceV1: inTotoSlsaProvenanceV1Of(statement) },
      envelope: {
        payload: real.payload,
        payloadType: real.payloadType,
        signatures: [{ sig: Buffer.alloc(64, 1).toString('base64'), keyid: real.signatures[0]?.keyid }],
      },
    };
    const answer = await post(`/v1/projects/${project}/occurrences`, lookAlike);
    return { status: answer.status, body: (await answer.json()) as { name: string; noteName: string } };
  } finally {
    await attacker.close();
  }
})();

t.test('the look-alike was stored under the note the proxy writes to', async (t) => {
  t.equal(
    occurrences.status,
    200,
    `a writer of the project may create it: ${JSON.stringify(occurrences.body)}`,
  );
  t.equal(
    occurrences.body.noteName,
    `projects/${project}/notes/${noteIdForBuilder(statement.predicate.runDetails.builder.id)}`,
  );
});

t.test('the store comes back: the real report is written beside the look-alike', async (t) => {
  await store.start();
  const listed = await waitUntil(
    async () => {
      const found = await listBuildOccurrences(store.url, project, push.resourceUrl, tokens.sidecar.token);
      return found.length >= 2 ? found : undefined;
    },
    { what: 'the real occurrence beside the look-alike', attempts: 400, intervalMs: 50 },
  );
  t.equal(listed.length, 2, 'the look-alike and the real one');
  const names = listed.map((o) => o.name);
  t.ok(names.includes(occurrences.body.name), 'the look-alike is still there (the store deletes nothing)');
  const written = listed.find((o) => o.name !== occurrences.body.name)!;
  t.same(written.envelope.signatures, real.signatures, 'the proxy wrote its own signature');
  t.equal(written.envelope.payload, real.payload);
  t.equal(written.noteName, occurrences.body.noteName, 'under the same note');

  const log = await readFile(proxy.logPath, 'utf8');
  t.match(
    log,
    /signatures that are not this proxy's: writing the real one beside them/,
    'the conflict is loud',
  );
  t.match(log, occurrences.body.name, 'naming the look-alike');
  t.notMatch(log, tokens.sidecar.token, 'the writer token never reaches the logs');

  const verified = await runVerify([
    push.reference,
    '--public-key',
    keys.publicPath,
    '--grafeas-url',
    store.url,
    '--grafeas-project',
    project,
    '--grafeas-token-file',
    sidecarTokenFile,
  ]);
  t.equal(verified.code, EXIT.ok.status, `verify finds the real provenance: ${verified.stderr}`);
});

/** The envelope the file sink wrote whose statement has `reference` as its subject. */
async function envelopeFor(reference: string): Promise<StoredEnvelope | undefined> {
  for (const name of await readdir(provenanceDir).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    for (const line of (await readFile(join(provenanceDir, name), 'utf8')).split('\n')) {
      if (line.trim() === '') continue;
      const envelope = JSON.parse(line) as StoredEnvelope;
      const statement = JSON.parse(
        Buffer.from(envelope.payload, 'base64').toString('utf8'),
      ) as InTotoStatement;
      const subjects = statement.subject.map((s) => `${s.name}@sha256:${s.digest?.sha256}`);
      if (subjects.includes(reference)) return envelope;
    }
  }
  return undefined;
}
