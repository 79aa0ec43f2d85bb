/**
 * Child process for journal-kill.test.ts: appends to a journal as fast as it can, with several
 * appends in flight (so group commits hold many lines), and prints `ack <seq> <hash>` for each
 * append once it resolved, i.e. once the line was fsync'd. The parent kills it with SIGKILL.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Journal } from '../../../src/journal/journal.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: append-loop.ts DIR');
const journal = await Journal.open({
  dir,
  logger: pino({ level: 'warn' }, pino.destination(2)),
  registry: new Registry(),
});
if (journal.torn !== null) process.stdout.write(`torn ${journal.torn.offset} ${journal.torn.bytes}\n`);
process.stdout.write(`ready ${journal.lastSeq}\n`);

let next = 0;
async function appendForever(): Promise<void> {
  for (;;) {
    const n = next++;
    // Lines of varying length, some long, so a kill is likelier to land inside a write.
    const receipt = await journal.append('tick', { n, pad: 'x'.repeat((n * 37) % 4096) });
    process.stdout.write(`ack ${receipt.seq} ${receipt.hash}\n`);
  }
}
for (let i = 0; i < 8; i += 1) void appendForever();
