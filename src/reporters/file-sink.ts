import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DsseEnvelope } from '../signing/envelope.js';
import { type ProvenanceSink, type SignedReport, SinkError } from './sink.js';

export interface FileSinkOptions {
  /** `--provenance-dir`: created if missing. */
  readonly directory: string;
  readonly logger?: Logger;
}

const SUFFIX = '.intoto.jsonl';
/** Temporary files are hidden (leading dot) so that a reader globbing `*.intoto.jsonl` never sees one. */
const TEMPORARY_SUFFIX = '.intoto.tmp';
const TEMPORARY_NAME = /^\.[0-9a-f]{12}\.intoto\.tmp$/;
const STALE_TEMPORARY_MS = 10 * 60 * 1000;
/** Leaves room for the suffix and the temporary-file decoration inside the usual 255-byte name limit. */
const MAX_STEM = 180;

/** Keeps `[A-Za-z0-9._-]`; `:` becomes `_` and `/` becomes `-` so registry names stay readable. */
function sanitise(text: string): string {
  return text
    .replace(/:/g, '_')
    .replace(/\//g, '-')
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '_');
}

function boundedStem(stem: string): string {
  if (stem.length <= MAX_STEM) return stem;
  const tail = createHash('sha256').update(stem).digest('hex').slice(0, 16);
  return `${stem.slice(0, MAX_STEM - 17)}-${tail}`;
}

/**
 * The file a report goes to: per image, named after its subject
 * (`registry.test_5000-lab-app-sha256-<hex>.intoto.jsonl`); the build report, `build-<reportId>.intoto.jsonl`.
 */
export function provenanceFileName(report: SignedReport): string {
  const subject = report.statement.subject[0];
  const sha256 = subject?.digest?.sha256;
  if (report.kind === 'image' && subject?.name !== undefined && sha256 !== undefined) {
    return `${boundedStem(sanitise(`${subject.name}-sha256-${sha256}`))}${SUFFIX}`;
  }
  return `${boundedStem(sanitise(`${report.kind}-${report.reportId}`))}${SUFFIX}`;
}

/** Lines that carry the same signed statement as `envelope`: a re-delivery, possibly re-signed. */
function sameStatement(line: string, envelope: DsseEnvelope): boolean {
  try {
    const parsed = JSON.parse(line) as Partial<DsseEnvelope>;
    return parsed.payloadType === envelope.payloadType && parsed.payload === envelope.payload;
  } catch {
    return false;
  }
}

const TRANSIENT_IO = new Set([
  'ENOSPC',
  'EIO',
  'EMFILE',
  'ENFILE',
  'EAGAIN',
  'EBUSY',
  'EINTR',
  'EDQUOT',
  'ESTALE',
]);

function sinkErrorFrom(error: unknown, path: string): SinkError {
  const code = (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
  // Permission and read-only errors can be fixed by an operator while the outbox keeps the report,
  // so they are retried too; only errors that cannot change with time would be final, and none of
  // the file system's are.
  return new SinkError(
    TRANSIENT_IO.has(code) ? 'ERR_SINK_FILE_IO' : 'ERR_SINK_FILE_ACCESS',
    `file sink: cannot write ${path} (${code})`,
    { retryable: true, reason: `io_${code.toLowerCase()}`, cause: error },
  );
}

/** Writes `content` to `path` so a reader sees the old file or the new one, never a part. */
async function writeAtomically(directory: string, path: string, content: string): Promise<void> {
  const temporary = join(directory, `.${randomBytes(6).toString('hex')}${TEMPORARY_SUFFIX}`);
  try {
    const handle = await open(temporary, 'wx', 0o644);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  // The rename is durable only once the directory entry is.
  const dir = await open(directory, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * A crash between writing and renaming leaves a temporary file nothing refers to. Only old ones are
 * removed: on a shared volume a young one may be another writer's, about to be renamed.
 */
async function removeStaleTemporaries(directory: string): Promise<void> {
  const cutoff = Date.now() - STALE_TEMPORARY_MS;
  for (const entry of await readdir(directory)) {
    if (!TEMPORARY_NAME.test(entry)) continue;
    const path = join(directory, entry);
    const info = await stat(path).catch(() => undefined);
    if (info !== undefined && info.mtimeMs < cutoff) await unlink(path).catch(() => undefined);
  }
}

/**
 * A ProvenanceSink writing signed envelopes as `.intoto.jsonl` files, for a shared volume.
 *
 * Each file holds one line per distinct signed statement. Delivering a report whose statement is
 * already in its file replaces that line (ECDSA signatures differ on each signing, so a re-signed
 * re-delivery is recognised by its payload), so re-delivery never duplicates. A later report about
 * the same image (say, after a new tag) adds a line. Writes to one file are serialised in-process.
 */
export class FileSink implements ProvenanceSink {
  readonly name = 'file';
  readonly directory: string;
  readonly #logger: Logger | undefined;
  readonly #queues = new Map<string, Promise<void>>();

  private constructor(directory: string, logger: Logger | undefined) {
    this.directory = directory;
    this.#logger = logger;
  }

  /** Creates the directory if needed and checks it is writable, once, at start-up. */
  static async open(options: FileSinkOptions): Promise<FileSink> {
    const directory = options.directory;
    try {
      await mkdir(directory, { recursive: true });
      const probe = join(directory, `.probe-${randomBytes(6).toString('hex')}.tmp`);
      const handle = await open(probe, 'wx');
      await handle.close();
      await unlink(probe);
      await removeStaleTemporaries(directory);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new SinkError(
        'ERR_SINK_FILE_CONFIG',
        `invalid option --provenance-dir: ${directory} is not a writable directory (${code})`,
        { retryable: false, reason: 'config', cause: error },
      );
    }
    return new FileSink(directory, options.logger);
  }

  deliver(report: SignedReport): Promise<void> {
    if (typeof report.envelope?.payload !== 'string' || typeof report.envelope.payloadType !== 'string') {
      return Promise.reject(
        new SinkError('ERR_SINK_FILE_REPORT', `file sink: report ${report.reportId} has no envelope`, {
          retryable: false,
          reason: 'invalid_report',
        }),
      );
    }
    const name = provenanceFileName(report);
    const previous = this.#queues.get(name) ?? Promise.resolve();
    const next = previous.then(() => this.#write(name, report));
    const settled = next.catch(() => undefined);
    this.#queues.set(name, settled);
    void settled.then(() => {
      if (this.#queues.get(name) === settled) this.#queues.delete(name);
    });
    return next;
  }

  async #write(name: string, report: SignedReport): Promise<void> {
    const path = join(this.directory, name);
    const line = JSON.stringify(report.envelope);
    try {
      let existing: string[] = [];
      try {
        existing = (await readFile(path, 'utf8')).split('\n').filter((entry) => entry.trim() !== '');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      const index = existing.findIndex((entry) => sameStatement(entry, report.envelope));
      if (index >= 0 && existing[index] === line) {
        this.#logger?.debug({ reportId: report.reportId, file: path }, 'provenance file already up to date');
        return;
      }
      const lines =
        index >= 0 ? existing.map((entry, i) => (i === index ? line : entry)) : [...existing, line];
      await writeAtomically(this.directory, path, `${lines.join('\n')}\n`);
      this.#logger?.debug(
        { reportId: report.reportId, kind: report.kind, file: path },
        'provenance file written',
      );
    } catch (error) {
      throw sinkErrorFrom(error, path);
    }
  }
}
