import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { Journal } from '../../src/journal/journal.js';
import { captureLogger } from '../support/capture-logger.js';
import { runCommand } from '../support/run-command.js';
import { makeTempDir } from '../support/temp-dir.js';
import { PROJECT_ROOT } from '../support/tools.js';

const CLI = join(PROJECT_ROOT, 'dist/cli/main.js');
const cli = (...args: string[]) => runCommand(process.execPath, [CLI, ...args], { timeoutMs: 60_000 });

async function journalFile(t: Test, damage: 'torn' | 'broken'): Promise<string> {
  const dir = await makeTempDir('exit-codes');
  t.teardown(() => dir.remove());
  const journal = await Journal.open({
    dir: dir.path,
    name: 'observations.jsonl',
    logger: captureLogger().logger,
    registry: new Registry(),
  });
  for (let n = 1; n <= 3; n += 1) await journal.append('obs', { n });
  await journal.close();
  if (damage === 'torn') await appendFile(journal.path, '{"seq":4,"par');
  else {
    const lines = (await readFile(journal.path, 'utf8')).split('\n');
    await writeFile(journal.path, [lines[0], lines[2], lines[1], ''].join('\n'));
  }
  return journal.path;
}

t.test('a torn journal and a bad flag end with different statuses, each the table row', async (t) => {
  const torn = await cli('journal', 'verify', '--file', await journalFile(t, 'torn'));
  const badFlag = await cli('verify', '--no-such-flag');
  t.equal(torn.code, EXIT.journalTorn.status, torn.stdout + torn.stderr);
  t.equal(badFlag.code, EXIT.usage.status, badFlag.stderr.slice(0, 200));
  t.not(torn.code, badFlag.code, 'a torn journal is not a usage error (both were 2)');
});

t.test('a broken journal is not an internal error (both were 1)', async (t) => {
  const broken = await cli('journal', 'verify', '--file', await journalFile(t, 'broken'));
  t.equal(broken.code, EXIT.journalBroken.status, broken.stdout);
  t.match(broken.stdout, /BROKEN at line 2 \(ERR_JOURNAL_CHAIN\)/);
  t.not(broken.code, EXIT.internal.status);
});

t.test('ca with an unreachable control server exits unavailable, not internal (was 1)', async (t) => {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  const ca = await cli('ca', '--control', 'http://127.0.0.1:1');
  t.equal(ca.code, EXIT.unavailable.status, ca.stderr.slice(0, 300));
  t.match(ca.stderr, /cannot reach the control server at http:\/\/127\.0\.0\.1:1/);
});

t.test('every command answers a bad command line with the one usage status', async (t) => {
  const cases = [
    ['verify', '--no-such-flag'],
    ['report', '--no-such-flag'],
    ['journal', 'verify', '--no-such-flag'],
    ['journal', 'nonsense'],
    ['outbox', 'nonsense'],
    ['capture-rules', '--no-such-flag'],
    ['run', '--listen', 'not-an-address'],
    ['no-such-command'],
  ];
  for (const argv of cases) {
    const result = await cli(...argv);
    t.equal(result.code, EXIT.usage.status, `${argv.join(' ')}: ${result.stderr.slice(0, 200)}`);
  }
});
