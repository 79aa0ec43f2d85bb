import { mkdtempSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The tests' one temp-dir helper: every directory is `pp-<prefix>-XXXXXX` under the OS temp dir,
 * and every removal honours INTEROP_KEEP_TMP=1 (keep registry logs, proxy logs, storage to debug).
 */

/** Name of the env var that keeps test temp dirs after the run, for debugging. */
export const KEEP_TEMP_ENV = 'INTEROP_KEEP_TMP';

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

/** Something that runs callbacks when the test ends (a tap `t`). */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A fresh directory; `remove()` deletes it unless INTEROP_KEEP_TMP=1. */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `pp-${prefix}-`));
  return { path, remove: () => removeTempDir(path) };
}

/** A fresh directory removed when the test `t` ends. */
export async function tempDir(t: Teardown, prefix: string): Promise<string> {
  const dir = await makeTempDir(prefix);
  t.teardown(() => dir.remove());
  return dir.path;
}

/** For synchronous setup (key pairs, the origin PKI): the caller removes it with removeTempDir, or the OS does. */
export function makeTempDirSync(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `pp-${prefix}-`));
}

export async function removeTempDir(path: string): Promise<void> {
  if (process.env[KEEP_TEMP_ENV] === '1') return;
  await rm(path, { recursive: true, force: true });
}
