import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/support/tools.ts). */
export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * Downloads worth keeping across clones on one machine (CI clones the repository afresh each
 * run; Go keeps its build cache in ~/.cache the same way): a base image's root filesystem, npm's
 * package cache for image builds. Never anything secret. PROVENANCE_PROXY_TEST_CACHE moves it.
 */
export const MACHINE_CACHE =
  process.env.PROVENANCE_PROXY_TEST_CACHE ?? join(homedir(), '.cache', 'provenance-proxy-tests');

/** Where scripts/install-test-deps.sh puts the Go-built clients. */
export const PROJECT_TOOLS_BIN = join(PROJECT_ROOT, '.tools', 'bin');

export type ToolName =
  | 'docker-registry'
  | 'skopeo'
  | 'buildah'
  | 'podman'
  | 'crane'
  | 'oras'
  | 'cosign'
  | 'referrers-registry'
  | 'htpasswd'
  | 'openssl'
  | 'unshare'
  | 'mmdebstrap'
  | 'promtool';

/** A tool the interop tests need is not installed. */
export class MissingToolError extends Error {
  readonly code = 'ERR_TEST_TOOL_MISSING';
  constructor(tool: string) {
    super(`${tool} is not installed: run scripts/install-test-deps.sh (as root) first`);
  }
}

/** Absolute path of a tool: .tools/bin first (pinned Go builds), then PATH; undefined if absent. */
export function findTool(name: ToolName): string | undefined {
  const dirs = [PROJECT_TOOLS_BIN, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Absolute path of a tool, or MissingToolError naming the install script. */
export function requireTool(name: ToolName): string {
  const path = findTool(name);
  if (path === undefined) throw new MissingToolError(name);
  return path;
}
