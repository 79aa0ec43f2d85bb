import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory } from './fsync-dir.js';
import type { TornTail } from './journal-scan.js';

const COPY_CHUNK = 1 << 20;

/**
 * Copies a torn tail into `<journal name>.torn.<UTC timestamp>` beside the journal and makes it
 * durable, so the journal can be cut back to its last good line without destroying evidence.
 * Returns the side file's path.
 */
export async function preserveTornTail(
  journal: FileHandle,
  dir: string,
  journalName: string,
  torn: TornTail,
  now: Date,
): Promise<string> {
  const stamp = now.toISOString().replace(/[-:]/g, '');
  const side = await createUnique(dir, `${journalName}.torn.${stamp}`);
  try {
    const buffer = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(torn.bytes, 1)));
    let copied = 0;
    while (copied < torn.bytes) {
      const { bytesRead } = await journal.read(
        buffer,
        0,
        Math.min(buffer.length, torn.bytes - copied),
        torn.offset + copied,
      );
      if (bytesRead === 0) break;
      await writeAll(side.handle, buffer.subarray(0, bytesRead));
      copied += bytesRead;
    }
    await side.handle.sync();
  } finally {
    await side.handle.close();
  }
  await fsyncDirectory(dir);
  return side.path;
}

async function createUnique(dir: string, base: string): Promise<{ path: string; handle: FileHandle }> {
  for (let n = 0; ; n += 1) {
    const path = join(dir, n === 0 ? base : `${base}.${n}`);
    try {
      return { path, handle: await open(path, 'wx', 0o600) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 100) throw err;
    }
  }
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const result = await handle.write(bytes, written, bytes.length - written);
    written += result.bytesWritten;
  }
}
