import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { InvalidOptionError, JournalError } from '../../src/errors.js';
import { GrafeasMappingError } from '../../src/grafeas/provenance-mapping.js';
import { Journal } from '../../src/journal/journal.js';
import type { JournalEntry } from '../../src/journal/journal-line.js';
import { readDeadLetters } from '../../src/reporters/dead-letter.js';
import { Outbox, type OutboxOptions } from '../../src/reporters/outbox.js';
import { OutboxError } from '../../src/reporters/outbox-errors.js';
import { type ProvenanceSink, type SignedReport, SinkError } from '../../src/reporters/sink.js';
import { captureLogger, LEVEL } from '../support/capture-logger.js';
import { metricValue } from '../support/metric-value.js';
import { tempDir } from '../support/temp-dir.js';
import { waitUntil } from '../support/wait-until.js';
import { HttpReportSink } from './support/http-report-sink.js';
import { ReportStore } from './support/report-store.js';
import { sampleReport } from './support/sample-report.js';

const FAST_RETRY = { baseDelayMs: 5, maxDelayMs: 20 };

async function startStore(t: { teardown(fn: () => unknown): void }): Promise<ReportStore> {
  const store = await ReportStore.start();
  t.teardown(() => store.stop());
  return store;
}

async function openOutbox(dir: string, sinks: ProvenanceSink[], extra: Partial<OutboxOptions> = {}) {
  const { logger, records } = captureLogger();
  const registry = new Registry();
  const outbox = await Outbox.open({ dir, sinks, logger, registry, retry: FAST_RETRY, ...extra });
  return { outbox, records, registry };
}

/** The outbox journal as written, read with a journal of its own after the outbox closed. */
async function journalLines(dir: string): Promise<JournalEntry[]> {
  const journal = await Journal.open({
    dir,
    name: 'outbox.jsonl',
    logger: captureLogger().logger,
    registry: new Registry(),
  });
  const entries: JournalEntry[] = [];
  for await (const entry of journal.entries()) entries.push(entry);
  await journal.close();
  return entries;
}

function reports(prefix: string, count: number): SignedReport[] {
  return Array.from({ length: count }, (_, i) => sampleReport(`${prefix}-${i + 1}`));
}

const reportsTotal = (registry: Registry, sink: string, result: string, cause: string) =>
  metricValue(registry, 'provenance_proxy_reports_total', { sink, result, cause });

t.test('retries 503s with backoff, then delivers once and journals it', async (t) => {
  const dir = await tempDir(t, 'outbox');
  const store = await startStore(t);
  store.answer(503, 3);
  const { outbox, registry } = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
  const report = sampleReport('r-1');
  await outbox.enqueue(report, ['store']);
  t.equal(await outbox.drain(10_000), true, 'drained');
  t.same([...store.copies], [['r-1', 1]], 'stored exactly once');
  t.equal(store.arrivals.length, 4, 'three 503s then success');
  t.equal(await reportsTotal(registry, 'store', 'retried', 'http_503'), 3);
  t.equal(await reportsTotal(registry, 'store', 'succeeded', 'none'), 1);
  t.equal(outbox.pending(), 0);
  await outbox.close();
  const lines = await journalLines(dir);
  t.same(
    lines.map((l) => l.kind),
    ['enqueued', 'delivered'],
  );
  t.same(lines[0]!.data, { reportId: 'r-1', sinks: ['store'], report }, 'the whole report is journaled');
  t.same(lines[1]!.data, { reportId: 'r-1', sink: 'store', attempts: 4 });
});

t.test('429 and a store that is down (connection refused) are retried too', async (t) => {
  const dir = await tempDir(t, 'outbox');
  const store = await startStore(t);
  store.answer(429, 1);
  const { outbox, registry } = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
  t.teardown(() => outbox.close());
  await outbox.enqueue(sampleReport('r-429'), ['store']);
  await store.waitForStored(1);
  t.equal(await reportsTotal(registry, 'store', 'retried', 'http_429'), 1);

  await store.stop();
  await outbox.enqueue(sampleReport('r-down'), ['store']);
  t.equal(await outbox.drain(100), false, 'cannot drain while the store is down');
  const retried = await reportsTotal(registry, 'store', 'retried', 'network');
  t.ok(retried !== undefined && retried >= 1, `retried ${retried} times on network errors`);
  await store.restart();
  t.equal(await outbox.drain(10_000), true);
  t.same(
    [...store.copies],
    [
      ['r-429', 1],
      ['r-down', 1],
    ],
  );
});

t.test('a 400 is not retried: parked in the dead-letter file, journaled, logged, counted', async (t) => {
  const dir = await tempDir(t, 'outbox');
  const store = await startStore(t);
  store.answer(400, 1, 'field build.inTotoSlsaProvenanceV1 is invalid');
  const { outbox, registry, records } = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
  const report = sampleReport('r-bad');
  await outbox.enqueue(report, ['store']);
  t.equal(await outbox.drain(10_000), true);
  t.equal(store.arrivals.length, 1, 'tried once');
  t.equal(store.storedCount, 0);
  t.equal(await reportsTotal(registry, 'store', 'parked', 'http_400'), 1);
  t.equal(
    await metricValue(registry, 'provenance_proxy_report_dead_letters_total', {
      sink: 'store',
      cause: 'http_400',
    }),
    1,
  );
  const logged = records.find((r) => r.level === LEVEL.error);
  t.match(logged, {
    reportId: 'r-bad',
    sink: 'store',
    cause: 'http_400',
    deadLetterId: /^dl-[0-9a-f]{16}$/,
    msg: /inTotoSlsaProvenanceV1 is invalid.*dead letter/,
  });
  await outbox.close();
  const { letters } = await readDeadLetters(dir);
  t.match(letters, [{ sink: 'store', reportId: 'r-bad', cause: 'http_400', resentAt: null }]);
  t.same(letters[0]!.report, report, 'the whole report is kept');
  const lines = await journalLines(dir);
  t.match(lines[1], {
    kind: 'parked',
    data: {
      reportId: 'r-bad',
      sink: 'store',
      attempts: 1,
      code: 'ERR_SINK',
      cause: 'http_400',
      message: /is invalid/,
      deadLetterId: letters[0]!.id,
    },
  });

  const reopened = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
  t.equal(reopened.outbox.pending(), 0, 'a parked report is not pending after restart');
  await reopened.outbox.close();
  t.equal((await readDeadLetters(dir)).letters.length, 1, 'and it is still in the dead-letter file');
});

t.test(
  '401 and 403 are retried, loud (error log, metric, readiness detail) until the token is fixed',
  async (t) => {
    const dir = await tempDir(t, 'outbox');
    const store = await startStore(t);
    const { outbox, registry, records } = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
    t.teardown(() => outbox.close());
    const authFailures = async (status: string) =>
      (await metricValue(registry, 'provenance_proxy_report_auth_failures_total', {
        sink: 'store',
        status,
      })) ?? 0;
    store.setOutage(403, 'not allowed');
    await outbox.enqueue(sampleReport('r-auth'), ['store']);
    await waitUntil(() => outbox.authProblems().length > 0, { what: 'an auth problem' });
    t.match(outbox.authProblems(), [{ sink: 'store', cause: 'http_403' }], 'readiness detail');
    store.setOutage(401, 'a valid bearer token is required');
    await waitUntil(() => records.some((r) => r['cause'] === 'http_401'), { what: 'a 401 logged' });
    t.ok((await authFailures('401')) >= 1, 'the 401s are counted');
    t.ok((await authFailures('403')) >= 1, 'the 403s are counted');
    t.equal(outbox.pending(), 1, 'still pending, never dropped');
    store.setOutage(null);
    t.equal(await outbox.drain(10_000), true);
    t.same([...store.copies], [['r-auth', 1]], 'delivered once the store accepts');
    const errors = records.filter((r) => r.level === LEVEL.error);
    t.ok(errors.length >= 2, 'each refusal is an error in the log');
    t.match(errors[0], { sink: 'store', cause: 'http_403', msg: /refused the proxy's credentials/ });
    t.same(outbox.authProblems(), [], 'cleared by the first delivery that succeeds');
    t.equal((await readDeadLetters(dir)).letters.length, 0, 'nothing parked');
  },
);

t.test('a report past the max age is given up on, journaled as expired and counted', async (t) => {
  const dir = await tempDir(t, 'outbox');
  const store = await startStore(t);
  store.setOutage(503);
  const { outbox, registry } = await openOutbox(dir, [new HttpReportSink('store', store.url)], {
    retry: { ...FAST_RETRY, maxAgeMs: 60 },
  });
  await outbox.enqueue(sampleReport('r-old'), ['store']);
  t.equal(await outbox.drain(10_000), true);
  t.equal(await reportsTotal(registry, 'store', 'failed', 'max_age'), 1);
  // How many retries fit in 60 ms depends on the machine's load; that it was tried before being
  // given up on does not.
  t.ok(store.arrivals.length >= 1, `${store.arrivals.length} attempts before it expired`);
  await outbox.close();
  t.match((await journalLines(dir)).at(-1), {
    kind: 'expired',
    data: { reportId: 'r-old', cause: 'http_503' },
  });
});

t.test(
  'restart: reports enqueued while the store is down are delivered exactly once after reopening',
  async (t) => {
    const dir = await tempDir(t, 'outbox');
    const store = await startStore(t);
    await store.stop();
    const batch = reports('outage', 5);
    const first = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
    for (const report of batch) await first.outbox.enqueue(report, ['store']);
    t.equal(await first.outbox.drain(50), false);
    t.equal(first.outbox.pending('store'), 5);
    await first.outbox.close();
    t.equal(store.arrivals.length, 0, 'nothing reached the store');

    await store.restart();
    const second = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
    t.equal(await second.outbox.drain(10_000), true);
    t.same(
      store.arrivals,
      batch.map((r) => r.reportId),
      'delivered in enqueue order',
    );
    t.same([...store.copies.values()], [1, 1, 1, 1, 1]);

    // Enqueueing the same reports again (say the proxy rebuilt its state and reports again) is a no-op.
    for (const report of batch) await second.outbox.enqueue(report, ['store']);
    t.equal(second.outbox.pending(), 0);
    await second.outbox.close();

    const third = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
    t.equal(third.outbox.pending(), 0, 'delivered reports stay delivered');
    await third.outbox.enqueue(batch[0]!, ['store']);
    await third.outbox.close();
    t.equal(store.arrivals.length, 5, 'no delivery was repeated');
    // Each reopening compacted the journal: delivered reports are down to one `settled` line each.
    const lines = await journalLines(dir);
    t.same(
      lines.map((l) => l.kind),
      ['settled', 'settled', 'settled', 'settled', 'settled'],
    );
    t.same(lines[0]!.data, { reportId: 'outage-1', sinks: ['store'] });
  },
);

t.test(
  'one sink: dispatched in order, at most maxInFlightPerSink at once; sinks do not block each other',
  async (t) => {
    const dir = await tempDir(t, 'outbox');
    const slow = await startStore(t);
    const fast = await startStore(t);
    slow.hold();
    const { outbox, registry } = await openOutbox(
      dir,
      [new HttpReportSink('slow', slow.url), new HttpReportSink('fast', fast.url)],
      { maxInFlightPerSink: 2 },
    );
    t.teardown(() => outbox.close());
    const batch = reports('ordered', 7);
    await Promise.all(batch.map((r) => outbox.enqueue(r, ['slow', 'fast'])));
    await waitUntil(() => outbox.pending('fast') === 0, { what: 'the fast sink has delivered everything' });
    t.equal(fast.storedCount, batch.length, 'the fast sink finished while the slow one is stuck');
    t.equal(outbox.pending('slow'), 7);
    t.equal(await metricValue(registry, 'provenance_proxy_outbox_depth', { sink: 'slow' }), 7);
    t.equal(await metricValue(registry, 'provenance_proxy_outbox_depth', { sink: 'fast' }), 0);
    t.ok(slow.heldCount <= 2, `${slow.heldCount} requests held at the slow store`);
    slow.release();
    t.equal(await outbox.drain(10_000), true);
    t.equal(slow.maxConcurrent, 2, 'never more than 2 in flight to one sink');
    t.same(
      slow.arrivals,
      batch.map((r) => r.reportId),
      'dispatched in enqueue order',
    );
    t.same(
      fast.arrivals,
      batch.map((r) => r.reportId),
    );
  },
);

t.test('gauges: depth and oldest age per sink, computed at scrape time', async (t) => {
  const dir = await tempDir(t, 'outbox');
  const store = await startStore(t);
  store.hold();
  let clock = Date.parse('2026-01-01T00:00:00.000Z');
  const { outbox, registry } = await openOutbox(dir, [new HttpReportSink('store', store.url)], {
    now: () => clock,
  });
  t.teardown(() => outbox.close());
  t.equal(await metricValue(registry, 'provenance_proxy_outbox_depth', { sink: 'store' }), 0);
  t.equal(await metricValue(registry, 'provenance_proxy_outbox_oldest_age_seconds', { sink: 'store' }), 0);
  await outbox.enqueue(sampleReport('g-1'), ['store']);
  clock += 2_000;
  await outbox.enqueue(sampleReport('g-2'), ['store']);
  clock += 5_000;
  t.equal(await metricValue(registry, 'provenance_proxy_outbox_depth', { sink: 'store' }), 2);
  t.equal(await metricValue(registry, 'provenance_proxy_outbox_oldest_age_seconds', { sink: 'store' }), 7);
  store.release();
  t.equal(await outbox.drain(10_000), true);
  t.equal(await metricValue(registry, 'provenance_proxy_outbox_depth', { sink: 'store' }), 0);
  t.equal(await metricValue(registry, 'provenance_proxy_outbox_oldest_age_seconds', { sink: 'store' }), 0);
});

t.test('a sink that throws something other than a SinkError is retried, loudly', async (t) => {
  const dir = await tempDir(t, 'outbox');
  let calls = 0;
  const delivered: string[] = [];
  const flaky: ProvenanceSink = {
    name: 'flaky',
    async deliver(report) {
      calls += 1;
      // A genuine bug on the first call: reading a property of undefined.
      if (calls === 1) (undefined as unknown as { x: { y: number } }).x.y = 1;
      delivered.push(report.reportId);
    },
  };
  const { outbox, registry, records } = await openOutbox(dir, [flaky]);
  await outbox.enqueue(sampleReport('u-1'), ['flaky']);
  t.equal(await outbox.drain(10_000), true);
  t.same(delivered, ['u-1']);
  t.equal(await reportsTotal(registry, 'flaky', 'retried', 'unexpected'), 1);
  t.ok(records.some((r) => r.level === LEVEL.error && r['cause'] === 'unexpected'));
  await outbox.close();
});

t.test('retry or dead letter is decided by the error type, not by the shape of its fields', async (t) => {
  const dir = await tempDir(t, 'outbox-');
  const calls = new Map<string, number>();
  const throwing = (name: string, first: () => unknown): ProvenanceSink => ({
    name,
    async deliver() {
      const n = (calls.get(name) ?? 0) + 1;
      calls.set(name, n);
      if (n === 1) throw first();
    },
  });
  const sinks = [
    // Typed and final: parked at the first attempt.
    throwing(
      'refusing',
      () => new SinkError('ERR_SINK', 'refused as it is', { retryable: false, reason: 'refused' }),
    ),
    // Typed, not a SinkError, not retryable by its code: parked too (it was retried as 'unexpected').
    throwing('unmappable', () => new GrafeasMappingError('no occurrence for this report')),
    // Typed and transient: retried, then delivered.
    throwing(
      'flapping',
      () => new SinkError('ERR_SINK', 'store restarting', { retryable: true, reason: 'http_503' }),
    ),
    // Untyped, merely shaped like a final SinkError: a surprise, so retried (it was parked).
    throwing('lookalike', () => ({ retryable: false, cause_: 'refused', code: 'ERR_SINK', message: 'duck' })),
  ];
  const { outbox, registry } = await openOutbox(dir, sinks);
  await outbox.enqueue(
    sampleReport('t-1'),
    sinks.map((s) => s.name),
  );
  t.equal(await outbox.drain(10_000), true);
  t.equal(await reportsTotal(registry, 'flapping', 'retried', 'http_503'), 1);
  t.equal(await reportsTotal(registry, 'lookalike', 'retried', 'unexpected'), 1);
  t.equal(await reportsTotal(registry, 'lookalike', 'succeeded', 'none'), 1);
  await outbox.close();
  const { letters } = await readDeadLetters(dir);
  t.same(
    letters.map((l) => [l.sink, l.attempts, l.code]).sort(),
    [
      ['refusing', 1, 'ERR_SINK'],
      ['unmappable', 1, 'ERR_GRAFEAS_MAPPING'],
    ],
    'the final ones are parked at once, with their codes',
  );
  t.same(Object.fromEntries(calls), { refusing: 1, unmappable: 1, flapping: 2, lookalike: 2 });
});

t.test('close during an outage returns promptly and keeps the reports pending', async (t) => {
  const dir = await tempDir(t, 'outbox');
  const store = await startStore(t);
  store.setOutage(503);
  const { outbox } = await openOutbox(dir, [new HttpReportSink('store', store.url)], {
    retry: { baseDelayMs: 60_000, maxDelayMs: 60_000, maxAgeMs: null },
    random: () => 0.99,
  });
  await outbox.enqueue(sampleReport('c-1'), ['store']);
  await outbox.enqueue(sampleReport('c-2'), ['store']);
  const started = Date.now();
  await outbox.close();
  t.ok(Date.now() - started < 10_000, 'close did not wait out the backoff');
  await t.rejects(outbox.enqueue(sampleReport('c-3'), ['store']), OutboxError);
  await t.rejects(outbox.enqueue(sampleReport('c-3'), ['store']), { code: 'ERR_OUTBOX_CLOSED' });
  store.setOutage(null);
  const reopened = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
  t.equal(reopened.outbox.pending(), 2);
  t.equal(await reopened.outbox.drain(10_000), true);
  await reopened.outbox.close();
  t.same([...store.copies.keys()], ['c-1', 'c-2']);
});

t.test('pending reports for a sink that is no longer configured are kept, not dropped', async (t) => {
  const dir = await tempDir(t, 'outbox');
  const store = await startStore(t);
  await store.stop();
  const first = await openOutbox(dir, [new HttpReportSink('old', store.url)]);
  await first.outbox.enqueue(sampleReport('p-1'), ['old']);
  await first.outbox.close();

  await store.restart();
  const second = await openOutbox(dir, [new HttpReportSink('new', store.url)]);
  t.ok(
    second.records.some((r) => r.level === LEVEL.warn && r['sink'] === 'old'),
    'warned about the parked sink',
  );
  t.equal(second.outbox.pending('old'), 1);
  t.equal(await second.outbox.drain(1_000), true, 'drain only waits for configured sinks');
  await second.outbox.close();

  const third = await openOutbox(dir, [new HttpReportSink('old', store.url)]);
  t.equal(await third.outbox.drain(10_000), true);
  await third.outbox.close();
  t.same([...store.copies], [['p-1', 1]], 'delivered once the sink came back');
});

t.test('enqueue refuses unknown sinks and malformed reports; options are validated', async (t) => {
  const dir = await tempDir(t, 'outbox');
  const store = await startStore(t);
  const sink = new HttpReportSink('store', store.url);
  const { outbox } = await openOutbox(dir, [sink]);
  t.teardown(() => outbox.close());
  await t.rejects(outbox.enqueue(sampleReport('x'), ['store', 'nope']), { code: 'ERR_OUTBOX_UNKNOWN_SINK' });
  await t.rejects(outbox.enqueue({ ...sampleReport('x'), reportId: '' }, ['store']), {
    code: 'ERR_OUTBOX_REPORT',
  });
  await outbox.enqueue(sampleReport('none'), []);
  t.equal(outbox.pending(), 0, 'no sinks: nothing to do');
  await t.rejects(outbox.drain(-1), RangeError);

  const { logger } = captureLogger();
  const base = { dir: await tempDir(t, 'outbox'), logger, registry: new Registry() };
  await t.rejects(Outbox.open({ ...base, sinks: [sink, sink] }), InvalidOptionError);
  await t.rejects(Outbox.open({ ...base, sinks: [sink], maxInFlightPerSink: 0 }), {
    code: 'ERR_INVALID_OPTION',
    option: 'outbox.maxInFlightPerSink',
  });
  await t.rejects(Outbox.open({ ...base, sinks: [sink], retry: { baseDelayMs: 0 } }), {
    code: 'ERR_INVALID_OPTION',
    option: 'outbox.retry.baseDelayMs',
  });
});

t.test('when the journal cannot write, enqueue rejects and nothing is delivered', async (t) => {
  const dir = await tempDir(t, 'outbox');
  const store = await startStore(t);
  await symlink('/dev/full', join(dir, 'outbox.jsonl'));
  const { outbox } = await openOutbox(dir, [new HttpReportSink('store', store.url)]);
  t.teardown(() => outbox.close());
  await t.rejects(outbox.enqueue(sampleReport('j-1'), ['store']), JournalError);
  t.equal(outbox.pending(), 0);
  t.equal(await outbox.drain(1_000), true);
  t.equal(store.arrivals.length, 0, 'a report that is not durable is not sent');
});
