// Issue 8, "Data directory": two proxies on one data directory, a proxy killed with SIGKILL and
// started again, and an empty build.json, each against the real CLI.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { LOCK_FILE } from '../../src/app/data-dir-lock.js';
import { EXIT } from '../../src/exit-codes.js';
import { cliPath } from '../e2e/support/cli.js';
import { readEntries, rewriteWithValidChain } from '../journal/support/rewrite-chain.js';
import { ecdsaKeyFiles } from '../signing/keys.js';
import { createTestCa } from '../support/pki.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { runCommand } from '../support/run-command.js';
import { makeTempDir } from '../support/temp-dir.js';

const home = await makeTempDir('datadir');
t.teardown(() => home.remove());
const ca = await createTestCa(join(home.path, 'ca'));

async function journalVerify(dataDir: string) {
  return runCommand(process.execPath, [cliPath(), 'journal', 'verify', '--data-dir', dataDir]);
}

let first: RunningProxy;

t.test('a second proxy on the same data directory refuses to start, naming the holder', async (t) => {
  first = await startProxy({ dir: home.path, upstreamCaPath: ca.caCertPath });
  const holderPid = first.pid();
  await t.rejects(
    startProxy({ dir: home.path, upstreamCaPath: ca.caCertPath }),
    { message: new RegExp(`ERR_DATA_DIR_LOCKED|held by pid ${holderPid}`) },
    'the second start fails',
  );
  t.match(readFileSync(first.logPath, 'utf8'), new RegExp(`held by pid ${holderPid}`), 'and says by whom');
  t.equal((await first.control('/readyz')).status, 200, 'the first proxy is unaffected');
  t.match(JSON.parse(readFileSync(join(first.dataDir, LOCK_FILE), 'utf8')), { pid: holderPid });
  t.equal((await journalVerify(first.dataDir)).code, 0, 'its journal still verifies');
});

t.test('after kill -9 the stale lock is taken over by the next start', async (t) => {
  await first.kill('SIGKILL');
  t.ok(existsSync(join(first.dataDir, LOCK_FILE)), 'SIGKILL leaves the lock file behind');
  await first.restart();
  t.match(JSON.parse(readFileSync(join(first.dataDir, LOCK_FILE), 'utf8')), { pid: first.pid() });
  t.equal((await journalVerify(first.dataDir)).code, 0);
});

t.test('a clean stop releases the lock', async (t) => {
  await first.stop();
  t.notOk(existsSync(join(first.dataDir, LOCK_FILE)));
});

t.test('an empty build.json is saved aside and a new invocation begins; the proxy starts', async (t) => {
  const buildJson = join(first.dataDir, 'build.json');
  const before = JSON.parse(readFileSync(buildJson, 'utf8')) as { invocationId: string };
  writeFileSync(buildJson, '');
  await first.restart();
  t.teardown(() => first.stop());
  const after = JSON.parse(readFileSync(buildJson, 'utf8')) as { invocationId: string };
  t.not(after.invocationId, before.invocationId, 'a new invocation');
  t.match(
    readdirSync(first.dataDir).filter((f) => f.startsWith('build.json.unreadable-')),
    [/^build\.json\.unreadable-\d+$/],
    'the unreadable file is kept',
  );
  t.match(readFileSync(first.logPath, 'utf8'), /build\.json was empty or unreadable/);
  t.notOk(existsSync(`${buildJson}.tmp`), 'no temp file left');
});

t.test('a stopped proxy leaves its journal sealed; a recomputed rewrite of it is detected', async (t) => {
  const keys = ecdsaKeyFiles();
  t.teardown(() => keys.cleanup());
  const proxy = await startProxy({
    dir: join(home.path, 'anchored'),
    upstreamCaPath: ca.caCertPath,
    extraArgs: ['--signing-key', keys.privatePath],
  });
  await proxy.stop();
  const journal = join(proxy.dataDir, 'observations.jsonl');
  const verify = (...extra: string[]) =>
    runCommand(process.execPath, [
      cliPath(),
      'journal',
      'verify',
      '--file',
      journal,
      '--public-key',
      keys.publicPath,
      ...extra,
    ]);
  const sealed = await verify('--require-sealed');
  t.equal(sealed.code, 0, sealed.stdout);
  t.match(sealed.stdout, /sealed/);

  await proxy.restart();
  await proxy.stop();
  t.equal((await verify('--require-sealed')).code, 0, 'an intact journal is replayed and sealed again');
  const entries = await readEntries(journal);
  t.same(
    entries.map((e) => e.kind),
    // start, finalized, finalize anchor; after the restart: start, and the seal again at stop.
    ['journal.anchor', 'build.finalized', 'journal.anchor', 'journal.anchor', 'journal.anchor'],
  );
  await rewriteWithValidChain(
    journal,
    entries.map((e) => (e.kind === 'build.finalized' ? { ...e, data: { finishedOn: 1 } } : e)),
  );
  t.equal((await journalVerify(proxy.dataDir)).code, 0, 'the chain alone cannot tell');
  const rewritten = await verify();
  t.equal(rewritten.code, EXIT.journalBroken.status);
  t.match(rewritten.stdout, /the journal was rewritten/);
  await t.rejects(
    proxy.restart(),
    { message: /ERR_JOURNAL_CHAIN|the journal was rewritten/ },
    'the proxy itself refuses to replay it',
  );
  t.match(readFileSync(proxy.logPath, 'utf8'), /line 3: anchor signed seq 2 .* the journal was rewritten/);
});
