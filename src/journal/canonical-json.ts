import { InvalidJournalEntryError } from './journal-errors.js';

/**
 * Canonical JSON, as in RFC 8785 (JSON Canonicalization Scheme, "JCS"):
 * - no whitespace;
 * - object members sorted by key, comparing keys as sequences of UTF-16 code units;
 * - strings escaped exactly as ECMAScript's JSON.stringify does (`\"`, `\\`, `\b \f \n \r \t`,
 *   other controls below U+0020 as `\u00xx` lowercase; everything else literal, UTF-8 encoded);
 * - numbers in ECMAScript's shortest round-trip form (JSON.stringify; `-0` is written `0`).
 *
 * Any JCS library in another language reproduces these bytes, which is why the journal hashes them.
 *
 * Only plain JSON is accepted: strings, finite numbers, booleans, null, arrays and plain objects.
 * Object members whose value is `undefined` are left out (as JSON.stringify does, so optional
 * TypeScript fields work); anything else that JSON cannot carry faithfully is refused rather than
 * silently changed, because a journal that stores something other than what it was given would lie.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '', new Set());
}

// Lone surrogates are not valid Unicode text; JCS (via I-JSON) forbids them.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const MAX_DEPTH = 256;

function encode(value: unknown, path: string, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new InvalidJournalEntryError(path, 'string has a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidJournalEntryError(path, `${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      return encodeContainer(value, path, ancestors);
    default:
      throw new InvalidJournalEntryError(path, `${typeof value} is not JSON`);
  }
}

function encodeContainer(value: object, path: string, ancestors: Set<object>): string {
  if (ancestors.has(value)) throw new InvalidJournalEntryError(path, 'value contains a cycle');
  if (ancestors.size >= MAX_DEPTH) {
    throw new InvalidJournalEntryError(path, `nested deeper than ${MAX_DEPTH}`);
  }
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const items = value.map((item: unknown, i) => {
        if (item === undefined) throw new InvalidJournalEntryError(`${path}/${i}`, 'undefined in an array');
        return encode(item, `${path}/${i}`, ancestors);
      });
      return `[${items.join(',')}]`;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const kind = value.constructor?.name ?? 'object';
      throw new InvalidJournalEntryError(path, `${kind} is not a plain object`);
    }
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    // Default sort compares UTF-16 code units, which is exactly JCS's ordering.
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined) continue;
      const memberPath = `${path}/${key}`;
      if (LONE_SURROGATE.test(key)) {
        throw new InvalidJournalEntryError(memberPath, 'key has a lone surrogate');
      }
      members.push(`${JSON.stringify(key)}:${encode(member, memberPath, ancestors)}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}
