// Issue 8: outbox.jsonl is compacted (delivered reports dropped, pending kept) at open and past a
// size threshold, atomically, so that a kill -9 during compaction loses nothing.
import { spawn } from 'node:child_process';
import { copyFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import t from 'tap';
import { Journal } from '../../src/journal/journal.js';
import { verifyJournalFile } from '../../src/journal/journal-verify.js';
import { Outbox } from '../../src/reporters/outbox.js';
import { readOutboxRecord } from '../../src/reporters/outbox-records.js';
import { captureLogger } from '../support/capture-logger.js';
import { metricValue } from '../support/metric-value.js';
import { tempDir } from '../support/temp-dir.js';
import { HttpReportSink } from './support/http-report-sink.js';
import { ReportStore } from './support/report-store.js';
import { sampleReport } from './support/sample-report.js';

const CHILD = fileURLToPath(new URL('./children/outbox-open.ts', import.meta.url));
const TS_LOADER = `--import=${import.meta.resolve('@tapjs/typescript/import')}`;
const FAST_RETRY = { baseDelayMs: 5, maxDelayMs: 20 };

function openOutbox(
  dir: string,
  store: ReportStore,
  extra: { registry?: Registry; compactAtBytes?: number } = {},
) {
  return Outbox.open({
    dir,
    sinks: [new HttpReportSink('store', store.url)],
    logger: captureLogger().logger,
    registry: extra.registry ?? new Registry(),
    retry: FAST_RETRY,
    ...(extra.compactAtBytes !== undefined ? { compactAtBytes: extra.compactAtBytes } : {}),
  });
}

/** What the journal says, read as the outbox would: pending deliveries and every report it knows. */
async function journalState(dir: string): Promise<{ lines: number; pending: string[]; known: string[] }> {
  const journal = await Journal.open({
    dir,
    name: 'outbox.jsonl',
    logger: captureLogger().logger,
    registry: new Registry(),
  });
  const pending = new Map<string, true>();
  const known = new Set<string>();
  let lines = 0;
  for await (const entry of journal.entries()) {
    lines += 1;
    const record = readOutboxRecord(entry);
    if (record.kind === 'enqueued' || record.kind === 'settled') {
      known.add(record.data.reportId);
      if (record.kind === 'enqueued') pending.set(record.data.reportId, true);
    } else pending.delete(record.data.reportId);
  }
  await journal.close();
  return { lines, pending: [...pending.keys()].sort(), known: [...known].sort() };
}

/** 300 reports delivered and 50 pending (the store is down for those): 650 journal lines. */
async function uncompactedJournal(dir: string, store: ReportStore): Promise<void> {
  const outbox = await openOutbox(dir, store);
  for (let i = 0; i < 300; i += 1) await outbox.enqueue(sampleReport(`done-${i}`), ['store']);
  if (!(await outbox.drain(30_000))) throw new Error('the store did not take the first 300');
  store.setOutage(503);
  for (let i = 0; i < 50; i += 1) await outbox.enqueue(sampleReport(`wait-${i}`), ['store']);
  await outbox.close();
}

t.test('compaction at open: delivered reports go, pending ones stay, known ones stay known', async (t) => {
  const dir = await tempDir(t, 'outbox-compact');
  const store = await ReportStore.start();
  t.teardown(() => store.stop());
  await uncompactedJournal(dir, store);
  const before = await journalState(dir);
  t.equal(before.lines, 650);
  const sizeBefore = (await stat(join(dir, 'outbox.jsonl'))).size;

  const registry = new Registry();
  const outbox = await openOutbox(dir, store, { registry });
  t.equal(await metricValue(registry, 'provenance_proxy_outbox_compactions_total', { result: 'done' }), 1);
  t.equal(outbox.pending(), 50);
  await outbox.enqueue(sampleReport('done-7'), ['store']);
  t.equal(outbox.pending(), 50, 'a delivered report enqueued again is still a no-op');
  await outbox.close();
  const after = await journalState(dir);
  t.same(after.pending, before.pending, 'the same reports pending');
  t.same(after.known, before.known, 'the same reports known');
  t.equal(after.lines, 350, 'one settled line per delivered report, one enqueued line per pending one');
  t.ok((await stat(join(dir, 'outbox.jsonl'))).size < sizeBefore / 2, 'and much smaller');
  t.equal((await verifyJournalFile(join(dir, 'outbox.jsonl'))).error, null, 'a valid journal');

  store.setOutage(null);
  const reopened = await openOutbox(dir, store);
  t.equal(await reopened.drain(30_000), true);
  await reopened.close();
  t.equal(store.storedCount, 350, 'the pending ones are delivered after compaction');
  t.ok(
    [...store.copies.values()].every((n) => n === 1),
    'each once',
  );
});

t.test('kill -9 during compaction loses nothing: the old journal or the new one, whole', async (t) => {
  const store = await ReportStore.start();
  t.teardown(() => store.stop());
  const original = await tempDir(t, 'outbox-compact-src');
  await uncompactedJournal(original, store);
  const expected = await journalState(original);
  const outcomes = new Set<string>();
  for (let run = 0; run < 6; run += 1) {
    const dir = await tempDir(t, `outbox-compact-kill-${run}`);
    await copyFile(join(original, 'outbox.jsonl'), join(dir, 'outbox.jsonl'));
    const child = spawn(process.execPath, [TS_LOADER, CHILD, dir, store.url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    // Killed as soon as it says it started compacting (runs differ in how far it got), or at the
    // latest once it has opened.
    const killAfter = run % 2 === 0 ? /outbox compaction started/ : /outbox journal compacted|^opened$/;
    await new Promise<void>((resolve, reject) => {
      const watch = (line: string) => {
        if (killAfter.test(line)) {
          child.kill('SIGKILL');
          resolve();
        }
      };
      createInterface({ input: child.stderr! }).on('line', watch);
      createInterface({ input: child.stdout! }).on('line', watch);
      void exited.then(() => reject(new Error('the child exited before it was killed')));
    });
    t.equal(await exited, 'SIGKILL');
    const files = await readdir(dir);
    const state = await journalState(dir);
    outcomes.add(state.lines === 650 ? 'old' : state.lines === 350 ? 'new' : `other ${state.lines}`);
    t.same(state.pending, expected.pending, `run ${run}: the same reports pending (${files.join(' ')})`);
    t.same(state.known, expected.known, `run ${run}: the same reports known`);
    t.equal((await verifyJournalFile(join(dir, 'outbox.jsonl'))).error, null, `run ${run}: a valid journal`);
  }
  t.ok(
    [...outcomes].every((o) => o === 'old' || o === 'new'),
    `whole journals only: ${[...outcomes].join(', ')}`,
  );
});

t.test('past the size threshold the journal is compacted while the outbox runs', async (t) => {
  const dir = await tempDir(t, 'outbox-compact-run');
  const store = await ReportStore.start();
  t.teardown(() => store.stop());
  const registry = new Registry();
  const outbox = await openOutbox(dir, store, { registry, compactAtBytes: 64 * 1024 });
  for (let i = 0; i < 400; i += 1) await outbox.enqueue(sampleReport(`run-${i}`), ['store']);
  t.equal(await outbox.drain(30_000), true);
  const compactions = await metricValue(registry, 'provenance_proxy_outbox_compactions_total', {
    result: 'done',
  });
  t.ok((compactions ?? 0) >= 1, `${compactions} compactions while running`);
  await outbox.close();
  t.equal(store.storedCount, 400);
  t.ok(
    [...store.copies.values()].every((n) => n === 1),
    'each report delivered once across compactions',
  );
  const state = await journalState(dir);
  t.same(state.pending, [], 'nothing pending');
  t.equal(state.known.length, 400, 'every report still known');
  t.ok((await stat(join(dir, 'outbox.jsonl'))).size < 256 * 1024, 'the journal stays bounded');
});
