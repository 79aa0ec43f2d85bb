import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ProvenanceProxyError } from '../errors.js';
import { fsyncDirectorySync } from '../journal/fsync-dir.js';

export const LOCK_FILE = 'proxy.lock';

/** Who holds a data directory: enough to tell a live holder from a dead one on the same host. */
export interface LockHolder {
  readonly pid: number;
  /** Start time of the process in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart. */
  readonly startTicks: string | null;
  /** /proc/sys/kernel/random/boot_id: a lock from before a reboot is stale whatever its pid. */
  readonly bootId: string | null;
  readonly hostname: string;
  readonly acquiredAt: string;
}

/** Another live proxy holds the data directory. */
export class DataDirLockedError extends ProvenanceProxyError {
  readonly holder: LockHolder | null;
  constructor(path: string, holder: LockHolder | null, why: string) {
    super('ERR_DATA_DIR_LOCKED', `${path} is held by ${describe(holder)}: ${why}`);
    this.holder = holder;
  }
}

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still this process's. */
  release(): void;
}

/** Lock paths this process holds: a second start in one process (tests, embedders) is refused too. */
const heldHere = new Set<string>();

/**
 * An exclusive lock on the data directory, so two proxies never append to one journal.
 *
 * Node has no flock/fcntl, so the lock is a file created atomically with link(2) (it either
 * appears whole, holding its owner, or not at all) and judged by liveness: a holder is alive
 * when its pid exists with the same start time on the same boot. A lock left by kill -9 (or a
 * reboot, or a reused pid, which in a container is often the same pid 1) is stale and taken
 * over. A lock from another host name cannot be judged and is never taken over: the operator
 * removes it once that pod is gone.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, LOCK_FILE);
  if (heldHere.has(path)) {
    throw new DataDirLockedError(path, ownHolder(), 'this process already runs a proxy on it');
  }
  const me = ownHolder();
  const text = `${JSON.stringify(me)}\n`;
  // A fresh lock and a stale-lock takeover each need one round; a third means contention.
  for (let round = 0; round < 3; round++) {
    if (tryCreate(path, text)) {
      heldHere.add(path);
      fsyncDirectorySync(dataDir);
      return {
        path,
        release() {
          heldHere.delete(path);
          if (readText(path) === text) unlinkSync(path);
        },
      };
    }
    const seen = readText(path);
    if (seen === null) continue; // released between our link and our read
    const holder = parseHolder(seen);
    const live = liveness(holder);
    if (live !== null) throw new DataDirLockedError(path, holder, live);
    takeOverStale(path, seen);
  }
  throw new DataDirLockedError(path, parseHolder(readText(path) ?? ''), 'another process keeps taking it');
}

function tryCreate(path: string, text: string): boolean {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}

/**
 * Moves the stale lock aside and checks that what moved is what was judged stale: a racer that
 * took over first would otherwise lose its fresh lock. If it was theirs, it goes back.
 */
function takeOverStale(path: string, judged: string): void {
  const aside = `${path}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (readText(aside) === judged) {
    unlinkSync(aside);
    return;
  }
  try {
    linkSync(aside, path);
  } catch (error) {
    // A third process created a lock while the racer's was aside: refuse rather than guess.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new DataDirLockedError(
        path,
        parseHolder(readText(path) ?? ''),
        'several processes are taking it at once',
      );
    throw error;
  } finally {
    unlinkSync(aside);
  }
}

/** null when the holder is gone (the lock is stale); otherwise why it counts as alive. */
function liveness(holder: LockHolder | null): string | null {
  if (holder === null) return null; // unreadable: names no one, so no one can be running on it
  if (holder.hostname !== hostname())
    return `a process on host ${holder.hostname}; remove the lock file once that host's proxy is gone`;
  const bootId = readBootId();
  if (holder.bootId !== null && bootId !== null && holder.bootId !== bootId) return null;
  if (holder.pid === process.pid) return null; // a previous life of this pid (pid 1 in a container)
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return null;
  }
  const startTicks = readStartTicks(holder.pid);
  if (holder.startTicks !== null && startTicks !== null && startTicks !== holder.startTicks) return null;
  return 'that process is still running';
}

function ownHolder(): LockHolder {
  return {
    pid: process.pid,
    startTicks: readStartTicks(process.pid),
    bootId: readBootId(),
    hostname: hostname(),
    acquiredAt: new Date().toISOString(),
  };
}

function parseHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as LockHolder;
    if (Number.isSafeInteger(value.pid) && value.pid > 0 && typeof value.hostname === 'string') {
      return {
        pid: value.pid,
        startTicks: typeof value.startTicks === 'string' ? value.startTicks : null,
        bootId: typeof value.bootId === 'string' ? value.bootId : null,
        hostname: value.hostname,
        acquiredAt: String(value.acquiredAt),
      };
    }
  } catch {
    // an empty or torn lock file names no holder
  }
  return null;
}

/** Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces and parentheses. */
function readStartTicks(pid: number): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

function readBootId(): string | null {
  return readText('/proc/sys/kernel/random/boot_id')?.trim() ?? null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function describe(holder: LockHolder | null): string {
  if (holder === null) return 'an unreadable lock';
  return `pid ${holder.pid} on ${holder.hostname} (since ${holder.acquiredAt})`;
}
