import type { FileHandle } from 'node:fs/promises';
import { checkChain, decodeJournalLine, GENESIS_HASH, type JournalEntry } from './journal-line.js';

/** Bytes at the end of a journal that are not a complete, parsable line: what kill -9 mid-write leaves. */
export interface TornTail {
  /** Byte offset where the torn bytes start (just past the last good line). */
  readonly offset: number;
  readonly bytes: number;
  readonly reason: 'no trailing newline' | 'unparsable last line';
}

/** Why a journal cannot be trusted; `line` is 1-based (0 when the file itself could not be read). */
export interface JournalFault {
  readonly line: number;
  readonly code: 'ERR_JOURNAL_PARSE' | 'ERR_JOURNAL_CHAIN' | 'ERR_JOURNAL_IO';
  readonly message: string;
}

export interface JournalScan {
  /** Good lines before any fault or torn tail. */
  readonly entries: number;
  readonly lastSeq: number;
  /** GENESIS_HASH when there are no good lines. */
  readonly lastHash: string;
  /** Offset just past the last good line: where the next line goes once a torn tail is cut off. */
  readonly goodBytes: number;
  readonly torn: TornTail | null;
  readonly error: JournalFault | null;
}

export interface ScanOptions {
  /** A longer line is treated as unparsable without holding it in memory. */
  readonly maxLineBytes: number;
  /** Called for every good line, in order, with the offset of its first byte. */
  readonly onEntry?: (entry: JournalEntry, offset: number) => void;
}

const CHUNK_BYTES = 1 << 20;
const NEWLINE = 0x0a;

interface PendingBadLine {
  readonly line: number;
  readonly offset: number;
  readonly reason: string;
}

/**
 * Reads a journal from the start, verifying every line and the chain, without keeping the data.
 *
 * A bad line is only "torn" when nothing follows it: either bytes without a final newline, or one
 * final line that is not even JSON. A line that parses but fails its hash or the chain is tampering
 * or corruption, never tearing, wherever it is. Anything bad followed by more lines is a fault.
 */
export async function scanJournal(file: FileHandle, options: ScanOptions): Promise<JournalScan> {
  const size = (await file.stat()).size;
  const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(size, 1)));
  let position = 0;
  let lineNumber = 0;
  let lineStart = 0;
  let parts: Buffer[] = [];
  let partsBytes = 0;
  let oversize = false;
  let entries = 0;
  let lastSeq = 0;
  let lastHash = GENESIS_HASH;
  let goodBytes = 0;
  let badLine: PendingBadLine | null = null;

  const result = (torn: TornTail | null, error: JournalFault | null): JournalScan => ({
    entries,
    lastSeq,
    lastHash,
    goodBytes,
    torn,
    error,
  });
  const faultFor = (bad: PendingBadLine): JournalFault => ({
    line: bad.line,
    code: 'ERR_JOURNAL_PARSE',
    message: `line ${bad.line}: ${bad.reason}`,
  });

  // Returns a fault to stop at, or null to go on.
  const completeLine = (line: Buffer | null, end: number): JournalFault | null => {
    lineNumber += 1;
    if (badLine !== null) return faultFor(badLine);
    if (line === null) {
      badLine = { line: lineNumber, offset: lineStart, reason: `longer than ${options.maxLineBytes} bytes` };
      return null;
    }
    const decoded = decodeJournalLine(line);
    if (!decoded.ok) {
      if (decoded.unparsable) {
        badLine = { line: lineNumber, offset: lineStart, reason: decoded.reason };
        return null;
      }
      return { line: lineNumber, code: decoded.code, message: `line ${lineNumber}: ${decoded.reason}` };
    }
    const broken = checkChain(decoded.entry, lastSeq, lastHash);
    if (broken !== null) {
      return { line: lineNumber, code: 'ERR_JOURNAL_CHAIN', message: `line ${lineNumber}: ${broken}` };
    }
    options.onEntry?.(decoded.entry, lineStart);
    entries += 1;
    lastSeq = decoded.entry.seq;
    lastHash = decoded.entry.hash;
    goodBytes = end + 1;
    return null;
  };

  const keep = (piece: Buffer): void => {
    if (oversize) return;
    if (partsBytes + piece.length > options.maxLineBytes) {
      oversize = true;
      parts = [];
      partsBytes = 0;
      return;
    }
    parts.push(Buffer.from(piece));
    partsBytes += piece.length;
  };

  while (position < size) {
    const { bytesRead } = await file.read(chunk, 0, Math.min(chunk.length, size - position), position);
    if (bytesRead === 0) break;
    const view = chunk.subarray(0, bytesRead);
    let from = 0;
    for (let nl = view.indexOf(NEWLINE, from); nl !== -1; nl = view.indexOf(NEWLINE, from)) {
      keep(view.subarray(from, nl));
      const line = oversize ? null : Buffer.concat(parts, partsBytes);
      const fault = completeLine(line, position + nl);
      if (fault !== null) return result(null, fault);
      parts = [];
      partsBytes = 0;
      oversize = false;
      from = nl + 1;
      lineStart = position + from;
    }
    keep(view.subarray(from));
    position += bytesRead;
  }

  const tailBytes = position - lineStart;
  const pendingBad = badLine as PendingBadLine | null;
  if (tailBytes > 0) {
    if (pendingBad !== null) return result(null, faultFor(pendingBad));
    return result({ offset: lineStart, bytes: tailBytes, reason: 'no trailing newline' }, null);
  }
  if (pendingBad !== null) {
    return result(
      { offset: pendingBad.offset, bytes: position - pendingBad.offset, reason: 'unparsable last line' },
      null,
    );
  }
  return result(null, null);
}
