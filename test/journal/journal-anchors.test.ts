// Issue 8, probe 10: the journal chain was unkeyed, so a rewrite with recomputed hashes, or a
// cut tail, passed `journal verify`. Anchors sign the chain head; these tests rewrite and cut
// journals the way an attacker with write access to the data directory would.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { JournalAnchors } from '../../src/app/journal-anchors.js';
import { EXIT } from '../../src/exit-codes.js';
import { Journal } from '../../src/journal/journal.js';
import { ANCHOR_KIND } from '../../src/journal/journal-anchor.js';
import type { JournalEntry } from '../../src/journal/journal-line.js';
import { loadKeySigner } from '../../src/signing/key-signer.js';
import { ecdsaKeyFiles } from '../signing/keys.js';
import { captureLogger } from '../support/capture-logger.js';
import { tempDir } from '../support/temp-dir.js';
import { waitUntil } from '../support/wait-until.js';
import { readEntries, rewriteWithValidChain } from './support/rewrite-chain.js';
import { runVerify as run } from './support/run-verify.js';

const keys = ecdsaKeyFiles();
const otherKeys = ecdsaKeyFiles();
t.teardown(() => {
  keys.cleanup();
  otherKeys.cleanup();
});
const signer = await loadKeySigner(keys.privatePath);

/** start anchor, 5 lines, interval anchor, 3 lines, finalize anchor: what a short build leaves. */
async function anchoredJournal(dir: string): Promise<string> {
  const journal = await Journal.open({ dir, logger: captureLogger().logger, registry: new Registry() });
  const anchors = new JournalAnchors(journal, signer, {
    invocationId: 'inv-1',
    logger: captureLogger().logger,
  });
  await anchors.anchor('start');
  for (let n = 1; n <= 5; n++) await journal.append('oci.manifestPushed', { n });
  await anchors.anchor('interval');
  for (let n = 6; n <= 8; n++) await journal.append('oci.manifestPushed', { n });
  await anchors.anchor('finalize');
  await anchors.anchor('close'); // nothing new: no second anchor
  await journal.close();
  return journal.path;
}

const verify = (path: string, ...extra: string[]) =>
  run(['--file', path, '--public-key', keys.publicPath, ...extra]);

t.test(
  'an anchored journal verifies, sealed, and anchors are written only when something is new',
  async (t) => {
    const path = await anchoredJournal(await tempDir(t, 'journal'));
    const entries = await readEntries(path);
    t.same(
      entries.map((e) => e.kind),
      [
        ANCHOR_KIND,
        ...Array(5).fill('oci.manifestPushed'),
        ANCHOR_KIND,
        ...Array(3).fill('oci.manifestPushed'),
        ANCHOR_KIND,
      ],
    );
    const result = await verify(path, '--require-sealed');
    t.equal(result.code, EXIT.ok.status, result.output);
    t.match(result.output, /3 anchors verify, signed through seq 10; sealed/);
    const json = JSON.parse((await verify(path, '--json')).output) as { journals: { anchors: unknown }[] };
    t.match(json.journals[0]!.anchors, {
      anchors: 3,
      anchoredThrough: 10,
      unanchored: 1,
      sealed: true,
      problems: [],
    });
  },
);

t.test(
  'a rewritten journal with a recomputed chain passes the chain check but not the anchors',
  async (t) => {
    const path = await anchoredJournal(await tempDir(t, 'journal'));
    const entries = await readEntries(path);
    const forged = entries.map((e) => (e.seq === 3 ? { ...e, data: { n: 'forged' } } : e));
    await rewriteWithValidChain(path, forged);
    t.equal((await run(['--file', path])).code, EXIT.ok.status, 'the unkeyed chain cannot tell');
    const result = await verify(path);
    t.equal(result.code, EXIT.journalBroken.status);
    t.match(
      result.output,
      /ANCHORS BROKEN: anchor at line 7: anchor signed seq 6 .* the journal was rewritten/,
    );

    await rewriteWithValidChain(
      path,
      forged.filter((e) => e.kind !== ANCHOR_KIND),
    );
    const stripped = await verify(path);
    t.equal(stripped.code, EXIT.journalBroken.status, 'dropping every anchor is not a way out');
    t.match(stripped.output, /no anchor verifies/);
  },
);

t.test('a cut tail is reported; --require-sealed refuses it', async (t) => {
  const path = await anchoredJournal(await tempDir(t, 'journal'));
  const entries = await readEntries(path);
  const cases: [string, JournalEntry[]][] = [
    ['the finalize anchor cut off', entries.slice(0, -1)],
    ['cut back to the interval anchor', entries.slice(0, 7)],
    ['lines appended after the seal', [...entries, { ...entries[1]!, data: { n: 'late' } }]],
  ];
  for (const [what, kept] of cases) {
    await rewriteWithValidChain(path, kept);
    const loose = await verify(path);
    t.equal(loose.code, EXIT.ok.status, `${what}: the anchors that remain verify`);
    t.match(loose.output, /entries after it are not signed/, `${what}: and the unsigned tail is named`);
    const strict = await verify(path, '--require-sealed');
    t.equal(strict.code, EXIT.journalBroken.status, `${what}: --require-sealed refuses it`);
    t.match(strict.output, /not sealed/);
  }
});

t.test('anchors signed by another key, or moved to another journal, do not count', async (t) => {
  const path = await anchoredJournal(await tempDir(t, 'journal'));
  const wrongKey = await run(['--file', path, '--public-key', otherKeys.publicPath]);
  t.equal(wrongKey.code, EXIT.journalBroken.status);
  t.match(wrongKey.output, /anchor signature does not verify/);
  const moved = join(await tempDir(t, 'journal'), 'outbox.jsonl');
  await writeFile(moved, await readFile(path));
  const result = await run(['--file', moved, '--public-key', keys.publicPath]);
  t.equal(result.code, EXIT.journalBroken.status);
  t.match(result.output, /made for journal observations\.jsonl, not outbox\.jsonl/);
  t.equal(
    (await run(['--file', path, '--require-sealed'])).code,
    EXIT.usage.status,
    '--require-sealed needs a key',
  );
});

t.test('interval anchors follow new lines, and only new lines', async (t) => {
  const journal = await Journal.open({
    dir: await tempDir(t, 'journal'),
    logger: captureLogger().logger,
    registry: new Registry(),
  });
  t.teardown(() => journal.close());
  const anchors = new JournalAnchors(journal, signer, {
    invocationId: 'inv-2',
    logger: captureLogger().logger,
  });
  anchors.start(20);
  t.teardown(() => anchors.stop());
  await waitUntil(async () => journal.lastSeq === 1, {
    what: 'the first interval anchor',
    attempts: 100,
    intervalMs: 20,
  });
  await journal.append('oci.blobUploaded', { n: 1 });
  await waitUntil(async () => journal.lastSeq === 3, {
    what: 'an anchor of the new line',
    attempts: 100,
    intervalMs: 20,
  });
  anchors.stop();
  await anchors.anchor('interval');
  t.equal(journal.lastSeq, 3, 'no anchor of an anchor');
  const kinds = (await readEntries(journal.path)).map((e) => e.kind);
  t.same(kinds, [ANCHOR_KIND, 'oci.blobUploaded', ANCHOR_KIND]);
});
