import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import t from 'tap';
import { Journal } from '../../src/journal/journal.js';
import { verifyJournalFile } from '../../src/journal/journal-verify.js';
import { captureLogger } from '../support/capture-logger.js';
import { tempDir } from '../support/temp-dir.js';

const CHILD = fileURLToPath(new URL('./children/append-loop.ts', import.meta.url));
// The child runs TypeScript through the same loader tap uses for this test.
const TS_LOADER = `--import=${import.meta.resolve('@tapjs/typescript/import')}`;
const ACKS_BEFORE_KILL = 300;
const ROUNDS = 3;

interface Round {
  readonly acked: Map<number, string>;
  readonly tornAtStart: string | null;
  readonly signal: NodeJS.Signals | null;
}

/** Starts the child, waits for `count` acknowledged appends, SIGKILLs it, and returns what it acknowledged. */
function appendThenKill(dir: string, count: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TS_LOADER, CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<number, string>();
    let tornAtStart: string | null = null;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [word, a, b] = line.split(' ');
      if (word === 'torn') tornAtStart = `${a}:${b}`;
      if (word !== 'ack') return;
      acked.set(Number(a), b!);
      if (acked.size === count) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} before the kill: ${stderr}`));
      else resolve({ acked, tornAtStart, signal });
    });
  });
}

t.test('every append acknowledged before kill -9 is there after restart, and the chain holds', async (t) => {
  const dir = await tempDir(t, 'journal-kill');
  let previousLastSeq = 0;
  for (let round = 1; round <= ROUNDS; round += 1) {
    const { acked, tornAtStart } = await appendThenKill(dir, ACKS_BEFORE_KILL);
    t.ok(acked.size >= ACKS_BEFORE_KILL, `round ${round}: ${acked.size} appends acknowledged before SIGKILL`);
    if (tornAtStart !== null)
      t.comment(`round ${round}: the child found and repaired a torn tail (${tornAtStart})`);

    // What verify says before any repair: at most a torn tail, never a break.
    const before = await verifyJournalFile(`${dir}/observations.jsonl`);
    t.equal(before.error, null, `round ${round}: no break after kill -9`);
    if (before.torn !== null)
      t.comment(`round ${round}: kill -9 left a torn tail of ${before.torn.bytes} bytes`);

    const { logger, records } = captureLogger();
    const journal = await Journal.open({ dir, logger, registry: new Registry() });
    t.equal(
      journal.torn !== null,
      before.torn !== null,
      `round ${round}: a torn tail is reported exactly when present`,
    );
    if (journal.torn !== null)
      t.ok(
        records.some((r) => r.msg.includes('torn')),
        'and logged',
      );
    const found = new Map<number, string>();
    for await (const entry of journal.entries(previousLastSeq)) found.set(entry.seq, entry.hash);
    const missing = [...acked].filter(([seq, hash]) => found.get(seq) !== hash);
    t.same(missing, [], `round ${round}: all ${acked.size} acknowledged lines present with their hashes`);
    t.ok(journal.lastSeq >= Math.max(...acked.keys()), `round ${round}: nothing acknowledged beyond the tip`);
    previousLastSeq = journal.lastSeq;
    await journal.close();
  }
  const final = await verifyJournalFile(`${dir}/observations.jsonl`);
  t.equal(final.error, null);
  t.equal(final.torn, null);
  t.ok(final.lastSeq >= ROUNDS * ACKS_BEFORE_KILL, `${final.lastSeq} lines chained across ${ROUNDS} kills`);
});
