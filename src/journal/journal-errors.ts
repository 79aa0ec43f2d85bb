import { JournalError, ProvenanceProxyError } from '../errors.js';

/**
 * The caller asked the journal to record something that is not plain JSON
 * (undefined in an array, NaN, a bigint, a Date, a cycle, a lone surrogate...).
 * The journal itself stays healthy: only that append is refused.
 */
export class InvalidJournalEntryError extends ProvenanceProxyError {
  /** Where in the value the problem is, as a JSON-pointer-like path (`/data/tags/0`). */
  readonly path: string;
  constructor(path: string, rule: string) {
    super('ERR_JOURNAL_ENTRY', `cannot journal value at ${path || '/'}: ${rule}`);
    this.path = path;
  }
}

/** A paging request (`after`, `limit`) breaks its rule; the control endpoint answers 400 with it. */
export class InvalidJournalPageError extends ProvenanceProxyError {
  readonly parameter: 'after' | 'limit';
  constructor(parameter: 'after' | 'limit', rule: string) {
    super('ERR_JOURNAL_PAGE', `invalid ${parameter}: ${rule}`);
    this.parameter = parameter;
  }
}

/** A journal line that breaks the chain or cannot be parsed, somewhere other than a torn tail. */
export class JournalLineError extends JournalError {
  readonly path: string;
  /** 1-based line number. */
  readonly line: number;
  constructor(path: string, line: number, code: 'ERR_JOURNAL_CHAIN' | 'ERR_JOURNAL_PARSE', message: string) {
    super(code, `${path}: ${message}`);
    this.path = path;
    this.line = line;
  }
}

/**
 * A chained, intact journal line whose record this code cannot read: a kind or a version it does not
 * know (written by a newer proxy), or data that breaks its kind's shape. Replay reports it and goes on.
 */
export class JournalRecordError extends ProvenanceProxyError {
  /** The line's seq, or 0 while the record is being decoded (the reader fills it in). */
  readonly seq: number;
  /** The line's kind as written (with its version suffix, if any). */
  readonly kind: string;
  constructor(
    code: 'ERR_JOURNAL_RECORD_KIND' | 'ERR_JOURNAL_RECORD_VERSION' | 'ERR_JOURNAL_RECORD_SHAPE',
    message: string,
    at: { seq: number; kind: string } = { seq: 0, kind: '' },
  ) {
    super(code, at.seq > 0 ? `journal seq ${at.seq} (${at.kind}): ${message}` : message);
    this.seq = at.seq;
    this.kind = at.kind;
  }
}
