import { open } from 'node:fs/promises';
import { DEFAULT_MAX_LINE_BYTES } from './journal-line.js';
import { type JournalFault, scanJournal, type TornTail } from './journal-scan.js';

/** What `provenance-proxy journal verify` reports for one journal file. Read-only: nothing is repaired. */
export interface JournalVerifyReport {
  readonly path: string;
  /** Good lines, up to the first fault or the torn tail. */
  readonly entries: number;
  /** 0 and null when there are no good lines. */
  readonly lastSeq: number;
  readonly lastHash: string | null;
  /** Unfinished bytes at the end (what kill -9 mid-write leaves); the proxy saves and cuts them at start. */
  readonly torn: TornTail | null;
  /** A line that is unparsable or breaks the chain before the end: the proxy refuses to start. */
  readonly error: JournalFault | null;
}

export async function verifyJournalFile(path: string): Promise<JournalVerifyReport> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'r');
  } catch (err) {
    return ioFailure(path, `cannot open: ${(err as Error).message}`);
  }
  try {
    const scan = await scanJournal(file, { maxLineBytes: DEFAULT_MAX_LINE_BYTES });
    return {
      path,
      entries: scan.entries,
      lastSeq: scan.lastSeq,
      lastHash: scan.entries === 0 ? null : scan.lastHash,
      torn: scan.torn,
      error: scan.error,
    };
  } catch (err) {
    return ioFailure(path, `cannot read: ${(err as Error).message}`);
  } finally {
    await file.close();
  }
}

/** The report for a journal that could not be read at all. */
function ioFailure(path: string, message: string): JournalVerifyReport {
  return {
    path,
    entries: 0,
    lastSeq: 0,
    lastHash: null,
    torn: null,
    error: { line: 0, code: 'ERR_JOURNAL_IO', message },
  };
}
