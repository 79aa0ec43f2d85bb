import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { Journal } from '../../src/journal/journal.js';
import { verifyJournalFile } from '../../src/journal/journal-verify.js';
import { captureLogger } from '../support/capture-logger.js';
import { tempDir } from '../support/temp-dir.js';
import { runVerify as run } from './support/run-verify.js';

async function writeJournal(dir: string, name: string, count: number): Promise<Journal> {
  const journal = await Journal.open({ dir, name, logger: captureLogger().logger, registry: new Registry() });
  for (let n = 1; n <= count; n += 1) await journal.append('obs', { n });
  await journal.close();
  return journal;
}

t.test('verifyJournalFile reports an intact journal', async (t) => {
  const dir = await tempDir(t, 'journal');
  const journal = await writeJournal(dir, 'observations.jsonl', 3);
  t.same(await verifyJournalFile(journal.path), {
    path: journal.path,
    entries: 3,
    lastSeq: 3,
    lastHash: journal.lastHash,
    torn: null,
    error: null,
  });
});

t.test('verifyJournalFile reports a torn tail without repairing it', async (t) => {
  const dir = await tempDir(t, 'journal');
  const journal = await writeJournal(dir, 'observations.jsonl', 2);
  const size = (await readFile(journal.path)).length;
  await appendFile(journal.path, '{"seq":3,"at":"20');
  const report = await verifyJournalFile(journal.path);
  t.same(report.torn, { offset: size, bytes: 17, reason: 'no trailing newline' });
  t.equal(report.error, null);
  t.equal(report.lastSeq, 2);
  t.equal((await readFile(journal.path)).length, size + 17, 'file left as it was');
});

t.test('verifyJournalFile reports a broken chain with its line', async (t) => {
  const dir = await tempDir(t, 'journal');
  const journal = await writeJournal(dir, 'observations.jsonl', 4);
  const lines = (await readFile(journal.path, 'utf8')).split('\n');
  lines[2] = lines[2]!.replace('"n":3', '"n":4');
  await writeFile(journal.path, lines.join('\n'));
  const report = await verifyJournalFile(journal.path);
  t.match(report.error, { line: 3, code: 'ERR_JOURNAL_CHAIN' });
  t.equal(report.entries, 2, 'good entries before the break');
  t.equal(report.lastSeq, 2);
});

t.test('verifyJournalFile reports a missing file as unreadable', async (t) => {
  const dir = await tempDir(t, 'journal');
  const report = await verifyJournalFile(join(dir, 'nope.jsonl'));
  t.match(report.error, { line: 0, code: 'ERR_JOURNAL_IO', message: /ENOENT/ });
  t.equal(report.lastHash, null);
});

t.test('journal verify --data-dir checks the known journals and exits 0 when intact', async (t) => {
  const dir = await tempDir(t, 'journal');
  const observations = await writeJournal(dir, 'observations.jsonl', 3);
  const outbox = await writeJournal(dir, 'outbox.jsonl', 1);
  const { code, output } = await run(['--data-dir', dir]);
  t.equal(code, EXIT.ok.status);
  t.match(output, `${observations.path}: ok, 3 entries, last seq 3 ${observations.lastHash}`);
  t.match(output, `${outbox.path}: ok, 1 entries, last seq 1`);

  const json = await run([`--data-dir=${dir}`, '--json']);
  t.equal(json.code, EXIT.ok.status);
  const parsed = JSON.parse(json.output) as { journals: Array<{ path: string; lastSeq: number }> };
  t.same(
    parsed.journals.map((j) => [j.path, j.lastSeq]),
    [
      [observations.path, 3],
      [outbox.path, 1],
    ],
  );
});

t.test(
  'journal verify exits journalTorn (12) for a torn last line only, journalBroken (11) for a break',
  async (t) => {
    const dir = await tempDir(t, 'journal');
    const observations = await writeJournal(dir, 'observations.jsonl', 2);
    await appendFile(observations.path, '{"partial');
    const torn = await run(['--data-dir', dir]);
    t.equal(torn.code, EXIT.journalTorn.status);
    t.match(
      torn.output,
      /TORN last line \(no trailing newline\): 9 bytes at offset \d+; intact before it: 2 entries/,
    );

    const outbox = await writeJournal(dir, 'outbox.jsonl', 3);
    const lines = (await readFile(outbox.path, 'utf8')).split('\n');
    await writeFile(outbox.path, [lines[0], lines[2], lines[1], ''].join('\n'));
    const broken = await run(['--data-dir', dir]);
    t.equal(broken.code, EXIT.journalBroken.status, 'a break wins over a torn tail');
    t.match(broken.output, /outbox\.jsonl: BROKEN at line 2 \(ERR_JOURNAL_CHAIN\)/);
    const single = await run(['--file', observations.path]);
    t.equal(single.code, EXIT.journalTorn.status, '--file checks just that file');
  },
);

t.test('journal verify exits journalBroken (11) when there is no journal', async (t) => {
  const dir = await tempDir(t, 'journal');
  const empty = await run(['--data-dir', dir]);
  t.equal(empty.code, EXIT.journalBroken.status);
  t.match(empty.output, /no journal found/);
  const named = await run(['--data-dir', dir, '--name', 'custom.jsonl']);
  t.equal(named.code, EXIT.journalBroken.status);
  t.match(named.output, /custom\.jsonl: BROKEN \(ERR_JOURNAL_IO\)/);
});

t.test('journal verify rejects bad command lines with 64 and usage', async (t) => {
  const cases = [
    [],
    ['--data-dir'],
    ['--data-dir', 'a', '--file', 'b'],
    ['--bogus'],
    ['--name', 'x', '--file', 'y'],
    ['--data-dir', 'd', '--name', '../x'],
  ];
  for (const argv of cases) {
    const { code, output } = await run(argv);
    t.equal(code, EXIT.usage.status, JSON.stringify(argv));
    t.match(output, /Usage: provenance-proxy journal verify/);
  }
  const help = await run(['--help']);
  t.equal(help.code, EXIT.ok.status);
  t.match(help.output, /^Usage:/);
});
