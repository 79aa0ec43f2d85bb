/**
 * Child process for outbox-kill.test.ts. Opens the outbox in DIR with one HTTP sink named `store`.
 *   outbox-run.ts DIR STORE_URL enqueue FIRST COUNT   enqueue reports r-FIRST..; print `ack <id>` once each is durable
 *   outbox-run.ts DIR STORE_URL drain                 deliver what is pending; print `drained <bool>` and exit
 * The parent SIGKILLs it in enqueue mode, while deliveries are failing or in flight.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Outbox } from '../../../src/reporters/outbox.js';
import { HttpReportSink } from '../support/http-report-sink.js';
import { sampleReport } from '../support/sample-report.js';

const [dir, storeUrl, mode, first, count] = process.argv.slice(2);
if (dir === undefined || storeUrl === undefined)
  throw new Error('usage: outbox-run.ts DIR STORE_URL MODE ...');
const outbox = await Outbox.open({
  dir,
  sinks: [new HttpReportSink('store', storeUrl)],
  logger: pino({ level: 'warn' }, pino.destination(2)),
  registry: new Registry(),
  retry: { baseDelayMs: 5, maxDelayMs: 50 },
});
process.stdout.write(`ready ${outbox.pending()}\n`);
if (mode === 'enqueue') {
  for (let n = Number(first); n < Number(first) + Number(count); n += 1) {
    const report = sampleReport(`r-${n}`);
    await outbox.enqueue(report, ['store']);
    process.stdout.write(`ack ${report.reportId}\n`);
  }
} else {
  const drained = await outbox.drain(30_000);
  await outbox.close();
  process.stdout.write(`drained ${drained}\n`);
}
