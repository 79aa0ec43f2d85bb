import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { InvalidJournalEntryError } from './journal-errors.js';

/**
 * One line of a journal file (UTF-8, terminated by `\n`):
 *
 *   {"seq":N,"at":"<ISO 8601 UTC>","kind":"<kind>","data":<JSON>,"prev":"sha256:<hex>","hash":"sha256:<hex>"}
 *
 * - `seq` starts at 1 and grows by exactly 1 per line.
 * - `prev` is the previous line's `hash`; the first line's `prev` is `sha256:` followed by 64 zeros.
 * - `hash` is `sha256:` + lowercase hex of SHA-256 over the UTF-8 bytes of the RFC 8785 (JCS)
 *   canonical JSON of the object holding the line's other five members, that is
 *   `{"at":…,"data":…,"kind":…,"prev":…,"seq":…}` with no whitespace, keys sorted, and `data`
 *   canonicalised recursively (see canonical-json.ts).
 *
 * To verify in another language: parse the line, remove `hash`, JCS-encode the rest, SHA-256 it,
 * compare with `hash`; then check `prev` equals the previous line's `hash` and `seq` is previous + 1.
 * Because `prev` is inside the hashed bytes, changing, removing or reordering any line breaks the chain.
 */
export interface JournalEntry<D = unknown> {
  readonly seq: number;
  readonly at: string;
  readonly kind: string;
  readonly data: D;
  readonly prev: string;
  readonly hash: string;
}

/** What an append resolves to once the line is on disk. */
export interface JournalReceipt {
  readonly seq: number;
  readonly at: string;
  readonly prev: string;
  readonly hash: string;
}

export const GENESIS_HASH = `sha256:${'0'.repeat(64)}`;

/** Longest line the journal writes or reads back, unless configured otherwise. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
/** Kinds are short dotted identifiers (`oci.manifest.pushed`, `enqueued`): safe in logs and metrics. */
const KIND_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const MEMBERS = ['seq', 'at', 'kind', 'data', 'prev', 'hash'] as const;

export function assertJournalKind(kind: string): void {
  if (typeof kind !== 'string' || !KIND_PATTERN.test(kind)) {
    throw new InvalidJournalEntryError('/kind', `must match ${KIND_PATTERN}`);
  }
}

function sha256Label(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

/**
 * The hashed text, built directly from the already-canonical `data` so an append encodes the payload
 * once. Members appear in JCS order (at < data < kind < prev < seq); `kind` and `at` need no escaping
 * beyond JSON.stringify's, and `seq` is a safe integer. A test holds this equal to canonicalJson().
 */
function hashedText(seq: number, at: string, kind: string, canonicalData: string, prev: string): string {
  return `{"at":${JSON.stringify(at)},"data":${canonicalData},"kind":${JSON.stringify(kind)},"prev":${JSON.stringify(prev)},"seq":${seq}}`;
}

export interface EncodedLine {
  readonly receipt: JournalReceipt;
  /** The complete line including its trailing newline. */
  readonly bytes: Buffer;
}

/** Builds the next line. Throws InvalidJournalEntryError when `kind` or `data` cannot be journaled. */
export function encodeJournalLine(
  seq: number,
  at: string,
  kind: string,
  data: unknown,
  prev: string,
): EncodedLine {
  assertJournalKind(kind);
  if (data === undefined) throw new InvalidJournalEntryError('/data', 'undefined is not JSON');
  const canonicalData = canonicalJson(data);
  const hash = sha256Label(hashedText(seq, at, kind, canonicalData, prev));
  const text = `{"seq":${seq},"at":${JSON.stringify(at)},"kind":${JSON.stringify(kind)},"data":${canonicalData},"prev":${JSON.stringify(prev)},"hash":${JSON.stringify(hash)}}\n`;
  return { receipt: { seq, at, prev, hash }, bytes: Buffer.from(text, 'utf8') };
}

/** Computes a parsed line's hash the way any verifier would: JCS over every member but `hash`. */
export function computeEntryHash(entry: Omit<JournalEntry, 'hash'>): string {
  const { seq, at, kind, data, prev } = entry;
  return sha256Label(canonicalJson({ seq, at, kind, data, prev }));
}

export type DecodedLine =
  | { readonly ok: true; readonly entry: JournalEntry }
  /** `unparsable`: not JSON at all, as a torn (partially written) line is. */
  | {
      readonly ok: false;
      readonly code: 'ERR_JOURNAL_PARSE' | 'ERR_JOURNAL_CHAIN';
      readonly reason: string;
      readonly unparsable: boolean;
    };

/**
 * Parses one line (without its newline) and checks it stands on its own: shape, and that `hash`
 * matches the contents. Whether it follows its predecessor is checkChain's business.
 */
export function decodeJournalLine(line: Buffer): DecodedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    return { ok: false, code: 'ERR_JOURNAL_PARSE', reason: 'not JSON', unparsable: true };
  }
  const shapeProblem = describeShapeProblem(parsed);
  if (shapeProblem !== null) {
    return { ok: false, code: 'ERR_JOURNAL_PARSE', reason: shapeProblem, unparsable: false };
  }
  const entry = parsed as JournalEntry;
  let expected: string;
  try {
    expected = computeEntryHash(entry);
  } catch (err) {
    // JSON.parse can yield what canonical JSON refuses (a lone surrogate from a \ud800 escape).
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, code: 'ERR_JOURNAL_PARSE', reason, unparsable: false };
  }
  if (expected !== entry.hash) {
    return {
      ok: false,
      code: 'ERR_JOURNAL_CHAIN',
      reason: 'hash does not match the contents',
      unparsable: false,
    };
  }
  return { ok: true, entry };
}

function describeShapeProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  const missing = MEMBERS.filter((m) => !(m in record));
  if (missing.length > 0) return `missing ${missing.join(', ')}`;
  const extra = keys.filter((k) => !(MEMBERS as readonly string[]).includes(k));
  if (extra.length > 0) return `unexpected member ${extra.join(', ')}`;
  const { seq, at, kind, prev, hash } = record;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
    return 'seq is not a positive integer';
  }
  if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) return 'at is not an ISO time';
  if (typeof kind !== 'string' || !KIND_PATTERN.test(kind)) return 'kind is not a valid kind';
  if (typeof prev !== 'string' || !HASH_PATTERN.test(prev)) return 'prev is not sha256:<64 hex>';
  if (typeof hash !== 'string' || !HASH_PATTERN.test(hash)) return 'hash is not sha256:<64 hex>';
  return null;
}

/** Null when `entry` may follow a line with `previous` seq and hash; otherwise why not. */
export function checkChain(entry: JournalEntry, previousSeq: number, previousHash: string): string | null {
  if (entry.seq !== previousSeq + 1) return `seq ${entry.seq} follows seq ${previousSeq}`;
  if (entry.prev !== previousHash) return `prev does not match the hash of seq ${previousSeq}`;
  return null;
}
