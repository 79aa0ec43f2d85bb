import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurablySync } from '../journal/fsync-dir.js';
import type { BuildIdentity } from '../provenance/statement.js';

/** What stays the same across restarts of one build's proxy: its invocation id and start time. */
export interface BuildInvocation {
  readonly invocationId: string;
  readonly startedOn: number;
}

/** What `loadOrCreateInvocation` found. */
export interface LoadedInvocation {
  readonly invocation: BuildInvocation;
  /** Set when build.json was empty or unreadable: where it was saved before a new invocation replaced it. */
  readonly unreadableSavedTo: string | null;
}

/**
 * The first start of a build writes `build.json` into the data directory (atomically and
 * fsync'd, so a crash leaves the old file or the new one, never an empty one); a restart
 * (after a crash or kill -9) reads it back, so the provenance still describes one build, not two.
 *
 * A build.json that cannot be read as an invocation (empty, cut, edited) must not stop every
 * start: it is saved aside and a new invocation begins. The caller says so loudly, because the
 * build's reports then carry a new invocation id.
 */
export function loadOrCreateInvocation(dataDir: string, now: () => number = Date.now): LoadedInvocation {
  const path = join(dataDir, 'build.json');
  let unreadableSavedTo: string | null = null;
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== null) {
    const saved = parseInvocation(text);
    if (saved !== null) return { invocation: saved, unreadableSavedTo: null };
    unreadableSavedTo = `${path}.unreadable-${now()}`;
    renameSync(path, unreadableSavedTo);
  }
  const created: BuildInvocation = { invocationId: randomUUID(), startedOn: now() };
  writeFileDurablySync(path, `${JSON.stringify(created)}\n`);
  return { invocation: created, unreadableSavedTo };
}

function parseInvocation(text: string): BuildInvocation | null {
  try {
    const value = JSON.parse(text) as Partial<BuildInvocation> | null;
    if (
      typeof value?.invocationId === 'string' &&
      value.invocationId !== '' &&
      typeof value.startedOn === 'number' &&
      Number.isFinite(value.startedOn)
    )
      return { invocationId: value.invocationId, startedOn: value.startedOn };
  } catch {
    // not JSON: reported by the caller
  }
  return null;
}

/**
 * The build as the platform names it, from the downward API. Each value is
 * taken from the first variable that is set, so Tekton and plain pods both work.
 */
export function buildIdentityFromEnv(env: NodeJS.ProcessEnv): BuildIdentity {
  const first = (...names: string[]) =>
    names.map((n) => env[n]).find((v) => v !== undefined && v !== '') ?? null;
  const labels: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('PROVENANCE_PROXY_BUILD_LABEL_') && value) {
      labels[name.slice('PROVENANCE_PROXY_BUILD_LABEL_'.length).toLowerCase()] = value;
    }
  }
  return {
    namespace: first('PROVENANCE_PROXY_POD_NAMESPACE', 'POD_NAMESPACE'),
    podName: first('PROVENANCE_PROXY_POD_NAME', 'POD_NAME', 'HOSTNAME'),
    podUid: first('PROVENANCE_PROXY_POD_UID', 'POD_UID'),
    buildId: first('PROVENANCE_PROXY_BUILD_ID', 'BUILD_ID', 'TEKTON_TASKRUN_NAME'),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
  };
}
