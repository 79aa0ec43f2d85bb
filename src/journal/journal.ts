import { constants as fsConstants } from 'node:fs';
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { InvalidOptionError, JournalError } from '../errors.js';
import { fsyncDirectory } from './fsync-dir.js';
import { InvalidJournalEntryError, JournalLineError } from './journal-errors.js';
import {
  checkChain,
  DEFAULT_MAX_LINE_BYTES,
  decodeJournalLine,
  type EncodedLine,
  encodeJournalLine,
  type JournalEntry,
  type JournalReceipt,
} from './journal-line.js';
import { type JournalMetrics, journalMetrics } from './journal-metrics.js';
import { OBSERVATIONS_JOURNAL } from './journal-names.js';
import {
  assertPageRequest,
  type JournalPage,
  type JournalPageRequest,
  MAX_PAGE_LIMIT,
} from './journal-page.js';
import { scanJournal, type TornTail } from './journal-scan.js';
import { OffsetIndex } from './offset-index.js';
import { preserveTornTail } from './torn-tail.js';

export interface JournalOptions {
  /** The data directory; created (mode 0700) when missing. */
  readonly dir: string;
  /** File name inside `dir`; `observations.jsonl` by default. */
  readonly name?: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Source of each line's `at`; tests may pin it. */
  readonly now?: () => Date;
  /** Largest line accepted on append and on replay; 16 MiB by default. */
  readonly maxLineBytes?: number;
  /** A page stops early once it holds this many bytes (always at least one entry); 4 MiB by default. */
  readonly maxPageBytes?: number;
}

/** What `open` found and repaired at the end of the file. */
export interface TornReport extends TornTail {
  /** Where the torn bytes were preserved. */
  readonly savedTo: string;
}

interface WaitingLine {
  readonly encoded: EncodedLine;
  readonly resolve: (receipt: JournalReceipt) => void;
  readonly reject: (error: Error) => void;
}

const DEFAULT_MAX_PAGE_BYTES = 4 * 1024 * 1024;

/**
 * An append-only, hash-chained, fsync'd file of JSON lines (format: journal-line.ts).
 *
 * Appends are group-committed: every line waiting when the previous commit finishes goes out in one
 * write and one fdatasync, in call order. A failed write or fdatasync poisons the journal: that batch
 * and every later append reject with ERR_JOURNAL_IO, because after a failed fsync the kernel may have
 * dropped the data and nothing written since can be called durable.
 */
export class Journal {
  readonly path: string;
  readonly name: string;
  /** Set when open found a torn last line (and cut it off after saving it). */
  readonly torn: TornReport | null;

  private readonly file: FileHandle;
  private readonly logger: Logger;
  private readonly metrics: JournalMetrics;
  private readonly now: () => Date;
  private readonly maxLineBytes: number;
  private readonly maxPageBytes: number;
  private readonly index: OffsetIndex;
  /** End of the committed (fsync'd) bytes, and the hash of the last committed line. */
  private committedBytes: number;
  private committedHash: string;
  /** Seq and hash of the newest accepted line, committed or still waiting. */
  private tipSeq: number;
  private tipHash: string;
  private waiting: WaitingLine[] = [];
  private flushing: Promise<void> | null = null;
  private failure: JournalError | null = null;
  private closed = false;

  private constructor(init: {
    path: string;
    name: string;
    file: FileHandle;
    options: JournalOptions;
    metrics: JournalMetrics;
    index: OffsetIndex;
    committedBytes: number;
    lastSeq: number;
    lastHash: string;
    torn: TornReport | null;
  }) {
    this.path = init.path;
    this.name = init.name;
    this.file = init.file;
    this.logger = init.options.logger;
    this.metrics = init.metrics;
    this.now = init.options.now ?? (() => new Date());
    this.maxLineBytes = init.options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.maxPageBytes = init.options.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES;
    this.index = init.index;
    this.committedBytes = init.committedBytes;
    this.tipSeq = init.lastSeq;
    this.tipHash = init.lastHash;
    this.committedHash = init.lastHash;
    this.torn = init.torn;
  }

  /**
   * Opens (or creates) the journal and replays it, verifying every line and the chain. A torn last
   * line is saved to a side file, cut off and reported (warn log, `torn`); a bad line anywhere else
   * rejects with JournalLineError (ERR_JOURNAL_CHAIN or ERR_JOURNAL_PARSE) naming the line, so the
   * proxy refuses to start on a journal it cannot trust.
   */
  static async open(options: JournalOptions): Promise<Journal> {
    const name = validateOptions(options);
    const path = join(options.dir, name);
    const metrics = journalMetrics(options.registry);
    const file = await openOrCreate(options.dir, path);
    try {
      const index = new OffsetIndex();
      const scan = await scanJournal(file, {
        maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
        onEntry: (_entry, offset) => index.push(offset),
      });
      if (scan.error !== null) {
        if (scan.error.code === 'ERR_JOURNAL_IO') {
          throw new JournalError('ERR_JOURNAL_IO', `${path}: ${scan.error.message}`);
        }
        throw new JournalLineError(path, scan.error.line, scan.error.code, scan.error.message);
      }
      let torn: TornReport | null = null;
      if (scan.torn !== null) {
        const now = (options.now ?? (() => new Date()))();
        const savedTo = await preserveTornTail(file, options.dir, name, scan.torn, now);
        await file.truncate(scan.goodBytes);
        await file.sync();
        torn = { ...scan.torn, savedTo };
        metrics.tornLines.inc({ journal: name });
        options.logger.warn(
          {
            journal: path,
            offset: torn.offset,
            bytes: torn.bytes,
            reason: torn.reason,
            savedTo,
            lastSeq: scan.lastSeq,
          },
          'journal ended in a torn line (an unfinished write); saved it aside and cut it off',
        );
      }
      return new Journal({
        path,
        name,
        file,
        options,
        metrics,
        index,
        committedBytes: scan.goodBytes,
        lastSeq: scan.lastSeq,
        lastHash: scan.lastHash,
        torn,
      });
    } catch (err) {
      await file.close();
      if (err instanceof JournalError) throw err;
      throw new JournalError('ERR_JOURNAL_IO', `cannot open journal ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Seq of the newest line on disk (0 when empty). */
  get lastSeq(): number {
    return this.index.count;
  }

  /** Hash of the newest line on disk (GENESIS_HASH when empty). */
  get lastHash(): string {
    return this.committedHash;
  }

  /** False once a write or fsync failed or the journal was closed: appends will reject. */
  get writable(): boolean {
    return this.failure === null && !this.closed;
  }

  /**
   * Appends one line; resolves once it is written and fdatasync'd. The seq is fixed at the call, so
   * lines land in call order. Rejects with InvalidJournalEntryError (journal unaffected) when `data`
   * is not plain JSON, and with JournalError ERR_JOURNAL_IO once the journal has failed or closed.
   */
  append(kind: string, data: unknown): Promise<JournalReceipt> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) {
      return Promise.reject(new JournalError('ERR_JOURNAL_IO', `journal ${this.path} is closed`));
    }
    let encoded: EncodedLine;
    try {
      encoded = encodeJournalLine(this.tipSeq + 1, this.now().toISOString(), kind, data, this.tipHash);
    } catch (err) {
      return Promise.reject(err);
    }
    if (encoded.bytes.length > this.maxLineBytes) {
      return Promise.reject(
        new InvalidJournalEntryError(
          '/data',
          `line of ${encoded.bytes.length} bytes exceeds ${this.maxLineBytes}`,
        ),
      );
    }
    this.tipSeq = encoded.receipt.seq;
    this.tipHash = encoded.receipt.hash;
    return new Promise<JournalReceipt>((resolve, reject) => {
      this.waiting.push({ encoded, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /**
   * Commits batches while lines are waiting. `flushing` is cleared before the last batch's callers
   * are resumed (promise callbacks run later), so an append they make always starts a new loop.
   */
  private async flushLoop(): Promise<void> {
    // Let every append made in the current tick join the first batch.
    await Promise.resolve();
    for (;;) {
      const batch = this.waiting;
      this.waiting = [];
      const bytes = Buffer.concat(batch.map((w) => w.encoded.bytes));
      try {
        await writeAt(this.file, bytes, this.committedBytes);
        const stopTimer = this.metrics.fsyncSeconds.startTimer({ journal: this.name });
        await this.file.datasync();
        stopTimer();
      } catch (err) {
        this.flushing = null;
        this.fail(err, batch);
        return;
      }
      let offset = this.committedBytes;
      for (const w of batch) {
        this.index.push(offset);
        offset += w.encoded.bytes.length;
      }
      this.committedBytes = offset;
      this.committedHash = batch.at(-1)!.encoded.receipt.hash;
      this.metrics.appends.inc({ journal: this.name }, batch.length);
      this.metrics.bytes.inc({ journal: this.name }, bytes.length);
      const drained = this.waiting.length === 0;
      if (drained) this.flushing = null;
      for (const w of batch) w.resolve(w.encoded.receipt);
      if (drained) return;
    }
  }

  private fail(err: unknown, batch: WaitingLine[]): void {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    this.failure = new JournalError(
      'ERR_JOURNAL_IO',
      `journal ${this.path} failed to write or fsync (${reason}); refusing further appends`,
      { cause: err },
    );
    this.logger.error(
      { journal: this.path, err, lost: batch.length + this.waiting.length },
      'journal write failed; appends are refused from now on',
    );
    const failed = [...batch, ...this.waiting];
    this.waiting = [];
    for (const w of failed) w.reject(this.failure);
  }

  /** Entries with seq > `after`, read back from the file; at most `limit`, fewer if a page gets large. */
  async page(request: JournalPageRequest): Promise<JournalPage> {
    assertPageRequest(request);
    const { after, limit } = request;
    const committed = this.index.count;
    if (after >= committed) return { entries: [], next: after, hasMore: false };
    const firstSeq = after + 1;
    let lastSeq = Math.min(after + limit, committed);
    const start = this.index.startOf(firstSeq - 1);
    const endOf = (seq: number): number => (seq < committed ? this.index.startOf(seq) : this.committedBytes);
    while (lastSeq > firstSeq && endOf(lastSeq) - start > this.maxPageBytes) {
      lastSeq = firstSeq + Math.floor((lastSeq - firstSeq) / 2);
    }
    const bytes = Buffer.allocUnsafe(endOf(lastSeq) - start);
    try {
      await readFully(this.file, bytes, start);
    } catch (err) {
      if (err instanceof JournalError) throw err;
      throw new JournalError('ERR_JOURNAL_IO', `cannot read ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const entries = this.decodePage(bytes, firstSeq);
    return { entries, next: lastSeq, hasMore: lastSeq < this.index.count };
  }

  private decodePage(bytes: Buffer, firstSeq: number): JournalEntry[] {
    const entries: JournalEntry[] = [];
    let from = 0;
    while (from < bytes.length) {
      const nl = bytes.indexOf(0x0a, from);
      const seq = firstSeq + entries.length;
      const decoded = decodeJournalLine(bytes.subarray(from, nl === -1 ? bytes.length : nl));
      // Verified at open; a failure here means the file changed under the running proxy.
      if (!decoded.ok) {
        throw new JournalLineError(this.path, seq, decoded.code, `line ${seq}: ${decoded.reason}`);
      }
      const previous = entries.at(-1);
      const broken =
        decoded.entry.seq !== seq
          ? `expected seq ${seq}, found ${decoded.entry.seq}`
          : previous === undefined
            ? null
            : checkChain(decoded.entry, previous.seq, previous.hash);
      if (broken !== null) {
        throw new JournalLineError(this.path, seq, 'ERR_JOURNAL_CHAIN', `line ${seq}: ${broken}`);
      }
      entries.push(decoded.entry);
      from = nl === -1 ? bytes.length : nl + 1;
    }
    return entries;
  }

  /** Every entry with seq > `after`, in order, read back page by page (for rebuilding state). */
  async *entries(after = 0): AsyncGenerator<JournalEntry> {
    let cursor = after;
    for (;;) {
      const page = await this.page({ after: cursor, limit: MAX_PAGE_LIMIT });
      yield* page.entries;
      cursor = page.next;
      if (!page.hasMore) return;
    }
  }

  /** Waits for accepted appends to be committed, then closes the file. Later appends reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing !== null) await this.flushing;
    await this.file.close();
  }
}

function validateOptions(options: JournalOptions): string {
  if (typeof options.dir !== 'string' || options.dir === '') {
    throw new InvalidOptionError('journal.dir', 'must be a directory path');
  }
  const name = options.name ?? OBSERVATIONS_JOURNAL;
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new InvalidOptionError('journal.name', 'must be a plain file name');
  }
  for (const key of ['maxLineBytes', 'maxPageBytes'] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 256)) {
      throw new InvalidOptionError(`journal.${key}`, 'must be an integer >= 256');
    }
  }
  return name;
}

async function openOrCreate(dir: string, path: string): Promise<FileHandle> {
  try {
    return await open(path, fsConstants.O_RDWR);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new JournalError('ERR_JOURNAL_IO', `cannot open journal ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = await open(path, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    // The new directory entry must survive a crash too, or the first acknowledged lines could vanish.
    await fsyncDirectory(dir);
    return file;
  } catch (err) {
    throw new JournalError('ERR_JOURNAL_IO', `cannot create journal ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function writeAt(file: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const result = await file.write(bytes, written, bytes.length - written, position + written);
    written += result.bytesWritten;
  }
}

async function readFully(file: FileHandle, into: Buffer, position: number): Promise<void> {
  let read = 0;
  while (read < into.length) {
    const result = await file.read(into, read, into.length - read, position + read);
    if (result.bytesRead === 0) {
      throw new JournalError('ERR_JOURNAL_IO', 'journal file is shorter than its index');
    }
    read += result.bytesRead;
  }
}
