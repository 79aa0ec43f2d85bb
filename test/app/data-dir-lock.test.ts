import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { acquireDataDirLock, LOCK_FILE, type LockHolder } from '../../src/app/data-dir-lock.js';
import { makeTempDir } from '../support/temp-dir.js';
import { PROJECT_ROOT } from '../support/tools.js';

function holder(overrides: Partial<LockHolder>): string {
  const base: LockHolder = {
    pid: process.pid,
    startTicks: null,
    bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    hostname: hostname(),
    acquiredAt: '2026-01-01T00:00:00.000Z',
  };
  return `${JSON.stringify({ ...base, ...overrides })}\n`;
}

/** A process that stays alive until killed: a real other holder. */
async function liveProcess(t: Test) {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30); console.log("up")'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await once(child.stdout!, 'data');
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  return { pid: child.pid!, startTicks, child };
}

t.test('the holder is exclusive within a process and released on release()', async (t) => {
  const dir = await makeTempDir('lock');
  t.teardown(() => dir.remove());
  const lock = acquireDataDirLock(dir.path);
  t.throws(() => acquireDataDirLock(dir.path), {
    code: 'ERR_DATA_DIR_LOCKED',
    message: new RegExp(`held by pid ${process.pid}`),
  });
  t.match(JSON.parse(readFileSync(join(dir.path, LOCK_FILE), 'utf8')), { pid: process.pid });
  lock.release();
  t.notOk(existsSync(join(dir.path, LOCK_FILE)), 'the lock file is gone');
  acquireDataDirLock(dir.path).release();
  t.same(readdirSync(dir.path), [], 'no temp or stale files left behind');
});

t.test('a live other process keeps the lock; the message names its pid', async (t) => {
  const dir = await makeTempDir('lock');
  t.teardown(() => dir.remove());
  const other = await liveProcess(t);
  writeFileSync(join(dir.path, LOCK_FILE), holder({ pid: other.pid, startTicks: other.startTicks }));
  t.throws(() => acquireDataDirLock(dir.path), {
    code: 'ERR_DATA_DIR_LOCKED',
    message: new RegExp(`held by pid ${other.pid} on ${hostname()}.*still running`),
  });
  t.match(readFileSync(join(dir.path, LOCK_FILE), 'utf8'), `"pid":${other.pid}`, 'left in place');
});

t.test('stale locks are taken over: dead pid, reused pid, old boot, our own pid, unreadable', async (t) => {
  const other = await liveProcess(t);
  const dead = spawn(process.execPath, ['-e', '0']);
  await once(dead, 'exit');
  const cases: [string, string][] = [
    ['a pid that no longer exists', holder({ pid: dead.pid! })],
    ['a pid reused by a process started later', holder({ pid: other.pid, startTicks: '1' })],
    ['a lock from before a reboot', holder({ pid: other.pid, bootId: 'another-boot' })],
    ['our own pid from a previous life (pid 1 in a container)', holder({ pid: process.pid })],
    ['an empty lock file', ''],
    ['a torn lock file', '{"pid":12'],
  ];
  for (const [what, text] of cases) {
    const dir = await makeTempDir('lock');
    writeFileSync(join(dir.path, LOCK_FILE), text);
    const lock = acquireDataDirLock(dir.path);
    t.match(JSON.parse(readFileSync(lock.path, 'utf8')), { pid: process.pid }, what);
    lock.release();
    t.same(readdirSync(dir.path), [], `${what}: nothing left aside`);
    await dir.remove();
  }
});

t.test('a lock from another host is never taken over', async (t) => {
  const dir = await makeTempDir('lock');
  t.teardown(() => dir.remove());
  writeFileSync(join(dir.path, LOCK_FILE), holder({ pid: 1, hostname: 'another-pod' }));
  t.throws(() => acquireDataDirLock(dir.path), {
    code: 'ERR_DATA_DIR_LOCKED',
    message: /held by pid 1 on another-pod.*remove the lock file/,
  });
});

t.test('release() leaves a lock that is no longer ours alone', async (t) => {
  const dir = await makeTempDir('lock');
  t.teardown(() => dir.remove());
  const lock = acquireDataDirLock(dir.path);
  const theirs = holder({ pid: 4242, hostname: 'another-pod' });
  writeFileSync(lock.path, theirs);
  lock.release();
  t.equal(readFileSync(lock.path, 'utf8'), theirs);
});

/** Processes that try to take the lock at once; each reports, then holds what it got until stdin closes. */
async function contenders(t: Test, dir: string, count: number): Promise<string[]> {
  const module = join(PROJECT_ROOT, 'dist/app/data-dir-lock.js');
  const script = `import(${JSON.stringify(module)}).then((m) => {
    let lock = null;
    try { lock = m.acquireDataDirLock(${JSON.stringify(dir)}); console.log('won'); }
    catch (e) { console.log(e.code); }
    process.stdin.on('end', () => { lock?.release(); process.exit(0); });
    process.stdin.resume();
  });`;
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  t.teardown(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  const outcomes = await Promise.all(
    children.map(async (child) => String((await once(child.stdout!, 'data'))[0]).trim()),
  );
  for (const child of children) child.stdin!.end();
  await Promise.all(children.map((child) => once(child, 'exit')));
  return outcomes.sort();
}

t.test('processes racing for a free or a stale lock: exactly one wins', async (t) => {
  for (const stale of [false, true]) {
    const dir = await makeTempDir('lock');
    if (stale) {
      const dead = spawn(process.execPath, ['-e', '0']);
      await once(dead, 'exit');
      writeFileSync(join(dir.path, LOCK_FILE), holder({ pid: dead.pid! }));
    }
    const outcomes = await contenders(t, dir.path, 4);
    t.same(
      outcomes,
      ['ERR_DATA_DIR_LOCKED', 'ERR_DATA_DIR_LOCKED', 'ERR_DATA_DIR_LOCKED', 'won'],
      stale ? 'stale lock' : 'free',
    );
    t.same(readdirSync(dir.path), [], 'released, nothing left aside');
    await dir.remove();
  }
});
