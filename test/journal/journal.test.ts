import { spawnSync } from 'node:child_process';
import { lstat, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { InvalidOptionError, JournalError } from '../../src/errors.js';
import { Journal } from '../../src/journal/journal.js';
import {
  InvalidJournalEntryError,
  InvalidJournalPageError,
  JournalLineError,
} from '../../src/journal/journal-errors.js';
import { GENESIS_HASH } from '../../src/journal/journal-line.js';
import { parseJournalPageQuery } from '../../src/journal/journal-page.js';
import { verifyJournalFile } from '../../src/journal/journal-verify.js';
import { captureLogger, LEVEL } from '../support/capture-logger.js';
import { metricValue } from '../support/metric-value.js';
import { tempDir } from '../support/temp-dir.js';

async function openJournal(dir: string, extra: { name?: string; maxPageBytes?: number } = {}) {
  const { logger, records } = captureLogger();
  const registry = new Registry();
  const journal = await Journal.open({ dir, logger, registry, ...extra });
  return { journal, logger, records, registry };
}

async function collect(journal: Journal, after = 0) {
  const entries = [];
  for await (const entry of journal.entries(after)) entries.push(entry);
  return entries;
}

async function fileLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
}

t.test('creates observations.jsonl, appends durably, and replays after reopening', async (t) => {
  const dir = join(await tempDir(t, 'journal'), 'data', 'nested');
  const first = await openJournal(dir);
  t.equal(first.journal.path, join(dir, 'observations.jsonl'));
  t.equal(first.journal.lastSeq, 0);
  t.equal(first.journal.lastHash, GENESIS_HASH);
  const a = await first.journal.append('oci.blob.uploaded', { digest: 'sha256:aa', size: 3 });
  const b = await first.journal.append('oci.manifest.pushed', { tags: ['v1'] });
  t.equal(a.seq, 1);
  t.equal(b.seq, 2);
  t.equal(b.prev, a.hash);
  t.equal(first.journal.lastHash, b.hash);
  await first.journal.close();
  t.equal((await lstat(first.journal.path)).mode & 0o777, 0o600, 'journal readable by the proxy only');

  const second = await openJournal(dir);
  t.teardown(() => second.journal.close());
  t.equal(second.journal.lastSeq, 2);
  t.equal(second.journal.lastHash, b.hash);
  t.equal(second.journal.torn, null);
  const entries = await collect(second.journal);
  t.same(
    entries.map((e) => [e.seq, e.kind, e.data]),
    [
      [1, 'oci.blob.uploaded', { digest: 'sha256:aa', size: 3 }],
      [2, 'oci.manifest.pushed', { tags: ['v1'] }],
    ],
  );
  const c = await second.journal.append('more', { n: 3 });
  t.equal(c.seq, 3);
  t.equal(c.prev, b.hash, 'new lines chain from the replayed tip');
});

t.test('concurrent appends are group-committed in call order', async (t) => {
  const dir = await tempDir(t, 'journal');
  const { journal, registry } = await openJournal(dir);
  t.teardown(() => journal.close());
  const count = 50;
  const receipts = await Promise.all(Array.from({ length: count }, (_, n) => journal.append('tick', { n })));
  t.same(
    receipts.map((r) => r.seq),
    Array.from({ length: count }, (_, n) => n + 1),
  );
  const labels = { journal: 'observations.jsonl' };
  t.equal(
    await metricValue(
      registry,
      'provenance_proxy_journal_fsync_seconds',
      labels,
      'provenance_proxy_journal_fsync_seconds_count',
    ),
    1,
    'appends made in one tick share one fdatasync',
  );
  t.equal(await metricValue(registry, 'provenance_proxy_journal_appends_total', labels), count);
  const lines = await fileLines(journal.path);
  t.equal(
    await metricValue(registry, 'provenance_proxy_journal_bytes_total', labels),
    lines.reduce((sum, l) => sum + Buffer.byteLength(l) + 1, 0),
  );
  t.same(
    lines.map((l) => (JSON.parse(l) as { data: { n: number } }).data.n),
    Array.from({ length: count }, (_, n) => n),
    'file order is call order',
  );
});

t.test('appends made while a commit is in flight go out together in the next one', async (t) => {
  const dir = await tempDir(t, 'journal');
  const { journal, registry } = await openJournal(dir);
  t.teardown(() => journal.close());
  const order: number[] = [];
  const first = journal.append('tick', { n: 0 }).then((r) => order.push(r.seq));
  // Let the first commit start (its write is under way) before the next appends arrive.
  await new Promise((resolve) => setImmediate(resolve));
  const rest = Array.from({ length: 20 }, (_, i) =>
    journal.append('tick', { n: i + 1 }).then((r) => order.push(r.seq)),
  );
  await Promise.all([first, ...rest]);
  t.same(
    order,
    Array.from({ length: 21 }, (_, i) => i + 1),
    'resolved in call order',
  );
  const fsyncs = await metricValue(
    registry,
    'provenance_proxy_journal_fsync_seconds',
    { journal: 'observations.jsonl' },
    'provenance_proxy_journal_fsync_seconds_count',
  );
  t.ok(fsyncs !== undefined && fsyncs >= 2 && fsyncs <= 3, `21 appends in ${fsyncs} commits`);
  t.equal((await verifyJournalFile(journal.path)).lastSeq, 21);
});

t.test('data that is not plain JSON is refused without harming the journal', async (t) => {
  const dir = await tempDir(t, 'journal');
  const { journal } = await openJournal(dir);
  t.teardown(() => journal.close());
  await t.rejects(journal.append('bad', { when: new Date() }), InvalidJournalEntryError);
  await t.rejects(journal.append('bad kind', {}), { code: 'ERR_JOURNAL_ENTRY' });
  const ok = await journal.append('good', { n: 1 });
  t.equal(ok.seq, 1, 'refused appends take no seq');
  t.ok(journal.writable);
});

t.test('a line over maxLineBytes is refused', async (t) => {
  const dir = await tempDir(t, 'journal');
  const { logger } = captureLogger();
  const journal = await Journal.open({ dir, logger, registry: new Registry(), maxLineBytes: 1024 });
  t.teardown(() => journal.close());
  await t.rejects(journal.append('big', { blob: 'x'.repeat(2000) }), { code: 'ERR_JOURNAL_ENTRY' });
  t.equal((await journal.append('small', { blob: 'x' })).seq, 1);
});

t.test(
  'a torn last line without newline is saved aside, cut off, reported, and new lines chain on',
  async (t) => {
    const dir = await tempDir(t, 'journal');
    const first = await openJournal(dir);
    await first.journal.append('a', { n: 1 });
    const last = await first.journal.append('a', { n: 2 });
    await first.journal.close();
    const intact = await readFile(first.journal.path);
    const tornBytes = Buffer.from('{"seq":3,"at":"2026-01-02T03:04:05.678Z","kind":"a","da');
    await writeFile(first.journal.path, Buffer.concat([intact, tornBytes]));

    const second = await openJournal(dir);
    t.teardown(() => second.journal.close());
    const torn = second.journal.torn;
    t.ok(torn, 'torn tail reported');
    t.equal(torn?.offset, intact.length);
    t.equal(torn?.bytes, tornBytes.length);
    t.equal(torn?.reason, 'no trailing newline');
    t.match(torn?.savedTo, /observations\.jsonl\.torn\.\d{8}T\d{6}\.\d{3}Z$/);
    t.same(await readFile(torn!.savedTo), tornBytes, 'side file holds exactly the torn bytes');
    t.same(await readFile(second.journal.path), intact, 'journal cut back to the last good line');
    const warning = second.records.find((r) => r.level === LEVEL.warn);
    t.match(warning, { offset: intact.length, bytes: tornBytes.length, savedTo: torn!.savedTo });
    t.equal(
      await metricValue(second.registry, 'provenance_proxy_journal_torn_lines_total', {
        journal: 'observations.jsonl',
      }),
      1,
    );
    const next = await second.journal.append('a', { n: 3 });
    t.equal(next.seq, 3);
    t.equal(next.prev, last.hash);
    const report = await verifyJournalFile(second.journal.path);
    t.same(report.error, null);
    t.same(report.torn, null);
    t.equal(report.lastSeq, 3);
  },
);

t.test(
  'an unparsable last line with a newline is torn too; a second open finds nothing to repair',
  async (t) => {
    const dir = await tempDir(t, 'journal');
    const first = await openJournal(dir);
    await first.journal.append('a', { n: 1 });
    await first.journal.close();
    const intact = await readFile(first.journal.path);
    const garbage = Buffer.concat([Buffer.alloc(40), Buffer.from('\n')]);
    await writeFile(first.journal.path, Buffer.concat([intact, garbage]));

    const second = await openJournal(dir);
    t.equal(second.journal.torn?.reason, 'unparsable last line');
    t.equal(second.journal.torn?.bytes, garbage.length);
    t.equal(second.journal.lastSeq, 1);
    await second.journal.close();
    const third = await openJournal(dir);
    t.teardown(() => third.journal.close());
    t.equal(third.journal.torn, null);
    const sideFiles = (await readdir(dir)).filter((f) => f.includes('.torn.'));
    t.equal(sideFiles.length, 1);
  },
);

t.test('a bad line in the middle refuses to open, naming the line, and leaves the file alone', async (t) => {
  const build = async (dir: string): Promise<string[]> => {
    const { journal } = await openJournal(dir);
    for (let n = 1; n <= 5; n += 1) await journal.append('a', { n });
    await journal.close();
    return fileLines(journal.path);
  };
  const cases: Array<[string, (lines: string[]) => string[], string, number]> = [
    [
      'data changed',
      (l) => l.map((x, i) => (i === 2 ? x.replace('"n":3', '"n":33') : x)),
      'ERR_JOURNAL_CHAIN',
      3,
    ],
    ['line removed', (l) => l.filter((_, i) => i !== 1), 'ERR_JOURNAL_CHAIN', 2],
    ['lines swapped', (l) => [l[0]!, l[2]!, l[1]!, l[3]!, l[4]!], 'ERR_JOURNAL_CHAIN', 2],
    ['garbage in the middle', (l) => [l[0]!, l[1]!, 'not json', l[3]!, l[4]!], 'ERR_JOURNAL_PARSE', 3],
    [
      'torn-looking line followed by more',
      (l) => [l[0]!, '{"seq":2,"at', ...l.slice(1)],
      'ERR_JOURNAL_PARSE',
      2,
    ],
    ['empty line in the middle', (l) => [l[0]!, '', ...l.slice(1)], 'ERR_JOURNAL_PARSE', 2],
    [
      'last line rewritten with a valid shape',
      (l) => [...l.slice(0, 4), l[4]!.replace('"n":5', '"n":6')],
      'ERR_JOURNAL_CHAIN',
      5,
    ],
    ['first line removed', (l) => l.slice(1), 'ERR_JOURNAL_CHAIN', 1],
  ];
  for (const [name, tamper, code, line] of cases) {
    const dir = await tempDir(t, 'journal');
    const lines = await build(dir);
    const path = join(dir, 'observations.jsonl');
    const tampered = `${tamper(lines).join('\n')}\n`;
    await writeFile(path, tampered);
    const error = await Journal.open({ dir, logger: captureLogger().logger, registry: new Registry() }).then(
      () => null,
      (err: unknown) => err,
    );
    t.type(error, JournalLineError, `${name}: refused`);
    t.type(error, JournalError, `${name}: is a JournalError`);
    t.equal((error as JournalLineError).code, code, `${name}: code`);
    t.equal((error as JournalLineError).line, line, `${name}: line`);
    t.match((error as Error).message, new RegExp(`line ${line}\\b`), `${name}: message names the line`);
    t.equal(await readFile(path, 'utf8'), tampered, `${name}: file untouched`);
  }
});

t.test('a failed write poisons the journal: the batch and every later append reject', async (t) => {
  const dir = await tempDir(t, 'journal');
  // /dev/full accepts the open and fails every write with ENOSPC: a real write error.
  await symlink('/dev/full', join(dir, 'observations.jsonl'));
  const { journal, records } = await openJournal(dir);
  t.teardown(() => journal.close());
  const batch = await Promise.allSettled([journal.append('a', { n: 1 }), journal.append('a', { n: 2 })]);
  for (const result of batch) {
    t.equal(result.status, 'rejected');
    if (result.status === 'rejected') {
      t.type(result.reason, JournalError);
      t.equal((result.reason as JournalError).code, 'ERR_JOURNAL_IO');
      t.match((result.reason as Error).message, /ENOSPC/);
    }
  }
  t.notOk(journal.writable);
  await t.rejects(journal.append('a', { n: 3 }), { code: 'ERR_JOURNAL_IO' }, 'refuses after the failure');
  t.ok(records.some((r) => r.level === LEVEL.error && /journal write failed/.test(r.msg)));
  t.equal(journal.lastSeq, 0, 'nothing counted as committed');
});

t.test('a closed journal refuses appends but finishes those already accepted', async (t) => {
  const dir = await tempDir(t, 'journal');
  const { journal } = await openJournal(dir);
  const accepted = journal.append('a', { n: 1 });
  const closing = journal.close();
  await t.rejects(journal.append('a', { n: 2 }), { code: 'ERR_JOURNAL_IO' });
  t.equal((await accepted).seq, 1);
  await closing;
  t.equal((await verifyJournalFile(journal.path)).lastSeq, 1);
});

t.test('pages read back from the file with a cursor', async (t) => {
  const dir = await tempDir(t, 'journal');
  const { journal } = await openJournal(dir);
  t.teardown(() => journal.close());
  for (let n = 1; n <= 25; n += 1) await journal.append('obs', { n });

  const p1 = await journal.page({ after: 0, limit: 10 });
  t.same(
    p1.entries.map((e) => e.seq),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  t.equal(p1.next, 10);
  t.ok(p1.hasMore);
  const p3 = await journal.page({ after: 20, limit: 10 });
  t.same(
    p3.entries.map((e) => (e.data as { n: number }).n),
    [21, 22, 23, 24, 25],
  );
  t.equal(p3.next, 25);
  t.notOk(p3.hasMore);
  const caughtUp = await journal.page({ after: 25, limit: 10 });
  t.same(caughtUp, { entries: [], next: 25, hasMore: false });
  t.same(await journal.page({ after: 99, limit: 1 }), { entries: [], next: 99, hasMore: false });
  t.equal(p3.entries[0]!.prev, (await journal.page({ after: 19, limit: 1 })).entries[0]!.hash, 'pages chain');

  await journal.append('obs', { n: 26 });
  const tail = await journal.page({ after: p3.next, limit: 10 });
  t.same(
    tail.entries.map((e) => e.seq),
    [26],
    'a cursor picks up new entries',
  );
  t.equal((await collect(journal, 23)).length, 3, 'entries(after) iterates the rest');
});

t.test('a page stops at maxPageBytes but always returns at least one entry', async (t) => {
  const dir = await tempDir(t, 'journal');
  const { journal } = await openJournal(dir, { maxPageBytes: 1024 });
  t.teardown(() => journal.close());
  for (let n = 1; n <= 10; n += 1) await journal.append('obs', { n, pad: 'p'.repeat(300) });
  await journal.append('obs', { n: 11, pad: 'p'.repeat(3000) });
  const small = await journal.page({ after: 0, limit: 10 });
  t.ok(small.entries.length >= 1 && small.entries.length < 10, `${small.entries.length} entries`);
  t.ok(small.hasMore);
  const big = await journal.page({ after: 10, limit: 10 });
  t.same(
    big.entries.map((e) => e.seq),
    [11],
  );
  t.equal((await collect(journal)).length, 11, 'iterating still reaches every entry');
});

t.test('page requests and query strings are validated', async (t) => {
  const dir = await tempDir(t, 'journal');
  const { journal } = await openJournal(dir);
  t.teardown(() => journal.close());
  await t.rejects(journal.page({ after: -1, limit: 1 }), InvalidJournalPageError);
  await t.rejects(journal.page({ after: 0, limit: 0 }), { code: 'ERR_JOURNAL_PAGE', parameter: 'limit' });
  await t.rejects(journal.page({ after: 0, limit: 1001 }), { code: 'ERR_JOURNAL_PAGE', parameter: 'limit' });
  await t.rejects(journal.page({ after: 0.5, limit: 1 }), { code: 'ERR_JOURNAL_PAGE', parameter: 'after' });

  t.same(parseJournalPageQuery(new URLSearchParams('')), { after: 0, limit: 100 });
  t.same(parseJournalPageQuery(new URLSearchParams('after=42&limit=7')), { after: 42, limit: 7 });
  for (const bad of [
    'after=-1',
    'after=1e3',
    'after=0x10',
    'after=01',
    'limit=0',
    'limit=5000',
    'limit=ten',
    'after=99999999999999999',
  ]) {
    t.throws(() => parseJournalPageQuery(new URLSearchParams(bad)), InvalidJournalPageError, bad);
  }
});

t.test('options are validated once, naming the option', async (t) => {
  const { logger } = captureLogger();
  const registry = new Registry();
  const dir = await tempDir(t, 'journal');
  for (const name of ['../escape.jsonl', 'a/b', '', '..']) {
    await t.rejects(Journal.open({ dir, name, logger, registry }), InvalidOptionError, JSON.stringify(name));
  }
  await t.rejects(Journal.open({ dir: '', logger, registry }), {
    code: 'ERR_INVALID_OPTION',
    option: 'journal.dir',
  });
  await t.rejects(Journal.open({ dir, logger, registry, maxLineBytes: 10 }), {
    code: 'ERR_INVALID_OPTION',
    option: 'journal.maxLineBytes',
  });
});

t.test('several journals share a directory and a registry', async (t) => {
  const dir = await tempDir(t, 'journal');
  const { logger } = captureLogger();
  const registry = new Registry();
  const observations = await Journal.open({ dir, logger, registry });
  const outbox = await Journal.open({ dir, name: 'outbox.jsonl', logger, registry });
  t.teardown(async () => {
    await observations.close();
    await outbox.close();
  });
  await observations.append('a', {});
  await outbox.append('b', {});
  await outbox.append('b', {});
  t.equal(
    await metricValue(registry, 'provenance_proxy_journal_appends_total', { journal: 'observations.jsonl' }),
    1,
  );
  t.equal(
    await metricValue(registry, 'provenance_proxy_journal_appends_total', { journal: 'outbox.jsonl' }),
    2,
  );
});

const hasPython = spawnSync('python3', ['--version']).status === 0;

t.test(
  'an independent verifier in Python recomputes every hash',
  { skip: hasPython ? false : 'no python3' },
  async (t) => {
    const dir = await tempDir(t, 'journal');
    const { journal } = await openJournal(dir);
    await journal.append('oci.manifest.pushed', {
      registry: 'registry.test:5000',
      repository: 'team/app',
      tags: ['v1', 'latest'],
      sizes: [0, 1, 1234567, -3, 0.5],
      text: 'quotes " backslash \\ tab \t newline \n euro € emoji 😀 control \u0001',
      nested: { b: null, a: true, c: { z: [], y: {} } },
    });
    await journal.append('generic.download', { url: 'https://example.test/a?b=c', sha256: 'ab'.repeat(32) });
    await journal.close();
    const script = new URL('./support/verify_journal.py', import.meta.url).pathname;
    const result = spawnSync('python3', [script, journal.path], { encoding: 'utf8' });
    t.equal(result.status, 0, result.stdout + result.stderr);
    t.equal(result.stdout.trim(), `ok 2 ${journal.lastHash}`);
  },
);
