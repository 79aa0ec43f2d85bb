import { readFile, writeFile } from 'node:fs/promises';
import { encodeJournalLine, GENESIS_HASH, type JournalEntry } from '../../../src/journal/journal-line.js';

/** Every line of a journal file, parsed. */
export async function readEntries(path: string): Promise<JournalEntry[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as JournalEntry);
}

/** Writes entries back with a freshly computed chain: what anyone with write access to the file can do. */
export async function rewriteWithValidChain(path: string, entries: readonly JournalEntry[]): Promise<void> {
  let prev = GENESIS_HASH;
  const lines: Buffer[] = [];
  for (const [i, e] of entries.entries()) {
    const encoded = encodeJournalLine(i + 1, e.at, e.kind, e.data, prev);
    prev = encoded.receipt.hash;
    lines.push(encoded.bytes);
  }
  await writeFile(path, Buffer.concat(lines));
}
