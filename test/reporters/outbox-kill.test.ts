import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { verifyJournalFile } from '../../src/journal/journal-verify.js';
import { tempDir } from '../support/temp-dir.js';
import { ReportStore } from './support/report-store.js';

const CHILD = fileURLToPath(new URL('./children/outbox-run.ts', import.meta.url));
const TS_LOADER = `--import=${import.meta.resolve('@tapjs/typescript/import')}`;

interface Child {
  readonly process: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(predicate: (lines: string[]) => boolean): Promise<void>;
}

function startChild(args: string[]): Child {
  const child = spawn(process.execPath, [TS_LOADER, CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<{ predicate: (lines: string[]) => boolean; resolve: () => void }> = [];
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.predicate(lines)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    process: child,
    lines,
    exited,
    waitFor: (predicate) =>
      new Promise<void>((resolve, reject) => {
        if (predicate(lines)) return resolve();
        waiters.push({ predicate, resolve });
        void exited.then(({ code, signal }) =>
          reject(new Error(`child exited (${code ?? signal}): ${stderr}`)),
        );
      }),
  };
}

const acks = (lines: string[]) => lines.filter((l) => l.startsWith('ack ')).map((l) => l.slice(4));

async function kill9(child: Child): Promise<void> {
  child.process.kill('SIGKILL');
  const { signal } = await child.exited;
  if (signal !== 'SIGKILL') throw new Error(`child ended with ${signal} instead of SIGKILL`);
}

t.test(
  'store outage + proxy kill -9 (twice, once mid-delivery) + restart: every report stored exactly once',
  async (t) => {
    const dir = await tempDir(t, 'outbox-kill');
    const store = await ReportStore.start();
    t.teardown(() => store.stop());
    store.setOutage(503);

    // 1. The store is down; the proxy enqueues 10 reports and is killed while retrying.
    const first = startChild([dir, store.url, 'enqueue', '1', '10']);
    await first.waitFor((lines) => acks(lines).length === 10);
    await kill9(first);
    const acked = acks(first.lines);

    // 2. Restarted during the outage, it enqueues 10 more; the outage ends and it is killed mid-delivery.
    const second = startChild([dir, store.url, 'enqueue', '11', '10']);
    await second.waitFor((lines) => lines.some((l) => l === 'ready 10'));
    await second.waitFor((lines) => acks(lines).length === 10);
    acked.push(...acks(second.lines));
    store.setOutage(null);
    await store.waitForStored(13);
    await kill9(second);
    t.ok(store.storedCount < 20, `killed with ${store.storedCount} of 20 stored`);

    // 3. Restarted again, it delivers what is still pending and drains.
    const third = startChild([dir, store.url, 'drain']);
    await third.waitFor((lines) => lines.some((l) => l.startsWith('drained ')));
    t.ok(third.lines.includes('drained true'), 'drained');
    t.equal((await third.exited).code, 0);

    t.equal(acked.length, 20);
    t.same(
      [...store.copies.keys()].sort(),
      [...acked].sort(),
      'every acknowledged report is in the store, and nothing else',
    );
    t.ok(
      [...store.copies.values()].every((n) => n === 1),
      'each stored exactly once',
    );
    const redelivered =
      store.arrivals.length - store.arrivals.filter((id, i, all) => all.indexOf(id) === i).length;
    t.comment(
      `${store.arrivals.length} PUTs reached the store, ${redelivered} of them repeats (503s and post-kill retries)`,
    );
    const journal = await verifyJournalFile(`${dir}/outbox.jsonl`);
    t.equal(journal.error, null, 'the outbox journal chain holds across the kills');
  },
);
