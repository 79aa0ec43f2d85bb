import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { fsyncDirectory } from '../journal/fsync-dir.js';
import { Journal } from '../journal/journal.js';

export interface CompactedLine {
  readonly kind: string;
  readonly data: unknown;
}

/** Where a compaction is written before it replaces the journal; hidden, and never read as a journal. */
export function compactionTempName(name: string): string {
  return `.${name}.compact`;
}

/**
 * Replaces the journal `dir/name` with one holding `lines`, atomically: the new journal is written
 * under a temporary name and fsync'd, renamed over the old one, and the directory fsync'd. A kill
 * at any point leaves either the old journal or the new one, whole; a temporary file left behind
 * by a killed compaction is removed by the next one. The caller must not append meanwhile.
 */
export async function replaceJournal(
  dir: string,
  name: string,
  lines: readonly CompactedLine[],
  deps: { logger: Logger; registry: Registry },
): Promise<void> {
  const temp = compactionTempName(name);
  await rm(join(dir, temp), { force: true });
  const journal = await Journal.open({ dir, name: temp, logger: deps.logger, registry: deps.registry });
  try {
    // One group commit: the journal batches appends made together into one write and one fdatasync.
    await Promise.all(lines.map((line) => journal.append(line.kind, line.data)));
  } finally {
    await journal.close();
  }
  await rename(join(dir, temp), join(dir, name));
  await fsyncDirectory(dir);
}
