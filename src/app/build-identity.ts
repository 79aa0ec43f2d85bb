import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildIdentity } from '../provenance/statement.js';

/** What stays the same across restarts of one build's proxy: its invocation id and start time. */
export interface BuildInvocation {
  readonly invocationId: string;
  readonly startedOn: number;
}

/**
 * The first start of a build writes `build.json` into the data directory;
 * a restart (after a crash or kill -9) reads it back, so the provenance still
 * describes one build, not two.
 */
export function loadOrCreateInvocation(dataDir: string): BuildInvocation {
  const path = join(dataDir, 'build.json');
  if (existsSync(path)) {
    const saved = JSON.parse(readFileSync(path, 'utf8')) as BuildInvocation;
    if (typeof saved.invocationId === 'string' && Number.isFinite(saved.startedOn)) return saved;
  }
  const created: BuildInvocation = { invocationId: randomUUID(), startedOn: Date.now() };
  writeFileSync(`${path}.tmp`, `${JSON.stringify(created)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return created;
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
