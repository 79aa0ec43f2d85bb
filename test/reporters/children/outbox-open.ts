/**
 * Child process for outbox-compaction.test.ts: opens the outbox in DIR (which compacts its
 * journal), logging at info to stderr, prints `opened` and waits to be killed.
 *   outbox-open.ts DIR STORE_URL
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Outbox } from '../../../src/reporters/outbox.js';
import { HttpReportSink } from '../support/http-report-sink.js';

const [dir, storeUrl] = process.argv.slice(2);
if (dir === undefined || storeUrl === undefined) throw new Error('usage: outbox-open.ts DIR STORE_URL');
await Outbox.open({
  dir,
  sinks: [new HttpReportSink('store', storeUrl)],
  logger: pino({ level: 'info' }, pino.destination({ fd: 2, sync: true })),
  registry: new Registry(),
  retry: { baseDelayMs: 50, maxDelayMs: 200 },
});
process.stdout.write('opened\n');
setInterval(() => undefined, 60_000);
