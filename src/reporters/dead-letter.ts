import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory } from '../journal/fsync-dir.js';
import type { SignedReport } from './sink.js';

/**
 * The dead-letter file, `<data-dir>/dead-letter.jsonl`: reports a sink proved it will never accept
 * as they are (a payload the store called malformed, one too large, or past the retry max age).
 * Append-only JSON lines, each fsync'd before the outbox journals the report as parked; nothing
 * here is ever deleted. `provenance-proxy outbox list` shows them and `outbox resend` delivers them
 * again, appending a `resent` line.
 */
export const DEAD_LETTER_FILE = 'dead-letter.jsonl';

export interface DeadLetterLine {
  readonly type: 'dead-letter';
  /** Stable per sink and report: a report parked again keeps its id. */
  readonly id: string;
  readonly at: string;
  readonly sink: string;
  readonly reportId: string;
  readonly kind: SignedReport['kind'];
  readonly attempts: number;
  readonly code: string;
  readonly cause: string;
  /** The sink's message (the store's answer), shortened; never a credential. */
  readonly message: string;
  readonly report: SignedReport;
}

export interface ResentLine {
  readonly type: 'resent';
  readonly id: string;
  readonly at: string;
  readonly sink: string;
}

/** One dead letter as it stands now: parked, or resent since (and when). */
export interface DeadLetter extends DeadLetterLine {
  readonly resentAt: string | null;
}

export function deadLetterId(sink: string, reportId: string): string {
  return `dl-${createHash('sha256').update(`${sink}\u0000${reportId}`).digest('hex').slice(0, 16)}`;
}

/** Appends one line and fsyncs it (and the directory when the file is new). Serialise calls per file. */
export async function appendDeadLetterLine(dir: string, line: DeadLetterLine | ResentLine): Promise<void> {
  const handle = await open(join(dir, DEAD_LETTER_FILE), 'a+', 0o600);
  let created = false;
  try {
    const { size } = await handle.stat();
    created = size === 0;
    // A torn last line (a crash mid-write) must not swallow this one: start on a line of its own.
    let torn = false;
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      torn = last[0] !== 0x0a;
    }
    await handle.appendFile(`${torn ? '\n' : ''}${JSON.stringify(line)}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (created) await fsyncDirectory(dir);
}

/**
 * Every dead letter in `dir`, in the order first parked, with its latest state. A line that does
 * not parse (a torn last line after a crash) is counted in `unreadable`, never fatal.
 */
export async function readDeadLetters(dir: string): Promise<{ letters: DeadLetter[]; unreadable: number }> {
  let text: string;
  try {
    text = await readFile(join(dir, DEAD_LETTER_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { letters: [], unreadable: 0 };
    throw error;
  }
  const byId = new Map<string, DeadLetter>();
  let unreadable = 0;
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let line: DeadLetterLine | ResentLine;
    try {
      line = JSON.parse(raw) as DeadLetterLine | ResentLine;
    } catch {
      unreadable += 1;
      continue;
    }
    if (line?.type === 'dead-letter' && typeof line.id === 'string' && typeof line.report === 'object') {
      // Parked again after a resend: the newest answer counts, and it is parked again.
      byId.delete(line.id);
      byId.set(line.id, { ...line, resentAt: null });
    } else if (line?.type === 'resent' && typeof line.id === 'string') {
      const letter = byId.get(line.id);
      if (letter !== undefined) byId.set(line.id, { ...letter, resentAt: line.at });
    } else unreadable += 1;
  }
  return { letters: [...byId.values()], unreadable };
}
