import { open } from 'node:fs/promises';

/** Makes a created, renamed or truncated directory entry durable: the file's own fsync does not. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
