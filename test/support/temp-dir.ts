import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Name of the env var that keeps test temp dirs after the run, for debugging. */
export const KEEP_TEMP_ENV = 'INTEROP_KEEP_TMP';

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

/** A fresh directory under the OS temp dir; `remove()` deletes it unless INTEROP_KEEP_TMP=1. */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `pp-interop-${prefix}-`));
  return {
    path,
    async remove() {
      if (process.env[KEEP_TEMP_ENV] === '1') return;
      await rm(path, { recursive: true, force: true });
    },
  };
}
