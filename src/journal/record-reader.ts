import { JournalRecordError } from './journal-errors.js';
import type { JournalEntry } from './journal-line.js';

/**
 * Typed, versioned records over journal lines. A line's kind names the record and its version:
 * `egress.hosts` is version 1 (every line written before versions existed is version 1, so version 1
 * is written without a suffix) and `egress.hosts.v2` is version 2. A journal's catalogue maps each
 * record name to a decoder per version; one reader validates every line against it.
 */

/** Turns a line's `data` into the record's typed data, or throws ERR_JOURNAL_RECORD_SHAPE. */
export type RecordDecoder<T> = (data: unknown, name: string) => T;

/** A journal's record kinds: the decoders of a name, by version; undefined for a name it does not know. */
export type RecordCatalogue<T> = (name: string) => Readonly<Record<number, RecordDecoder<T>>> | undefined;

/** What reading one line gives: its record, or why it cannot be read (never a throw). */
export type ReadResult<T> =
  | { readonly ok: true; readonly record: T }
  | { readonly ok: false; readonly error: JournalRecordError };

const VERSION_SUFFIX = /^(.+)\.v([1-9][0-9]{0,5})$/;

/** `name` at `version`, as written in a line's kind. */
export function versionedKind(name: string, version: number): string {
  return version === 1 ? name : `${name}.v${version}`;
}

/** The record name and version a line's kind spells. */
export function parseVersionedKind(kind: string): { readonly name: string; readonly version: number } {
  const match = VERSION_SUFFIX.exec(kind);
  return match === null ? { name: kind, version: 1 } : { name: match[1]!, version: Number(match[2]) };
}

/**
 * Reads one line. A kind or version the catalogue does not know (a newer proxy wrote it), or data
 * that breaks its decoder, is an error value naming the line, never an exception: a caller replaying
 * a journal decides what an unreadable record means for it, and nothing is skipped unsaid.
 */
export function readRecord<T>(entry: JournalEntry, catalogue: RecordCatalogue<T>): ReadResult<T> {
  const at = { seq: entry.seq, kind: entry.kind };
  const { name, version } = parseVersionedKind(entry.kind);
  const decoders = catalogue(name);
  if (decoders === undefined)
    return fail(new JournalRecordError('ERR_JOURNAL_RECORD_KIND', `unknown record kind ${name}`, at));
  const decode = decoders[version];
  if (decode === undefined) {
    const known = Object.keys(decoders).join(', ');
    return fail(
      new JournalRecordError(
        'ERR_JOURNAL_RECORD_VERSION',
        `${name} version ${version} is not one this proxy reads (${known})`,
        at,
      ),
    );
  }
  try {
    return { ok: true, record: decode(entry.data, name) };
  } catch (error) {
    if (!(error instanceof JournalRecordError)) throw error;
    return fail(new JournalRecordError('ERR_JOURNAL_RECORD_SHAPE', error.message, at));
  }
}

function fail<T>(error: JournalRecordError): ReadResult<T> {
  return { ok: false, error };
}
