import { JournalRecordError } from './journal-errors.js';

/**
 * The shape a record kind's `data` must have, field by field: a JSON type (`string`, `number`,
 * `boolean`, `object`, `array`), optionally `|null`, optionally `?` for a field older writers left out;
 * a list of the allowed strings; or a check of its own that returns what is wrong (null when right;
 * it sees `undefined` for an absent field).
 */
export type FieldRule =
  | `${JsonType}${'' | '|null'}${'' | '?'}`
  | readonly string[]
  | ((value: unknown) => string | null);

type JsonType = 'string' | 'number' | 'boolean' | 'object' | 'array';

export type RecordShape = Readonly<Record<string, FieldRule>>;

/** Throws ERR_JOURNAL_RECORD_SHAPE naming the first field of `data` that breaks `shape`. */
export function expectShape(data: unknown, shape: RecordShape): void {
  const problem = shapeProblem(data, shape);
  if (problem !== null) throw new JournalRecordError('ERR_JOURNAL_RECORD_SHAPE', problem);
}

/** What is wrong with `data` for `shape`, or null. Fields not in the shape are allowed (and kept). */
export function shapeProblem(data: unknown, shape: RecordShape): string | null {
  if (!isObject(data)) return `data is ${typeName(data)}, not an object`;
  for (const [field, rule] of Object.entries(shape)) {
    const problem = fieldProblem(data, field, rule);
    if (problem !== null) return `${field}: ${problem}`;
  }
  return null;
}

/** The allowed values of a string union, checked complete by the compiler (`Record<Union, true>`). */
export function oneOf<T extends string>(values: Readonly<Record<T, true>>): readonly T[] {
  return Object.keys(values) as T[];
}

/** A rule for a nested object field. */
export function nested(shape: RecordShape, nullable = false): (value: unknown) => string | null {
  return (value) => (nullable && value === null ? null : shapeProblem(value, shape));
}

function fieldProblem(
  data: Readonly<Record<string, unknown>>,
  field: string,
  rule: FieldRule,
): string | null {
  const present = Object.hasOwn(data, field);
  const value = data[field];
  // A check of its own sees `undefined` for an absent field and decides whether that is allowed.
  if (typeof rule === 'function') return rule(value);
  if (Array.isArray(rule)) {
    if (!present) return 'missing';
    return typeof value === 'string' && rule.includes(value)
      ? null
      : `${JSON.stringify(value) ?? 'undefined'} is not one of ${rule.join(', ')}`;
  }
  const text = rule as string;
  const optional = text.endsWith('?');
  const [type, nullable] = (optional ? text.slice(0, -1) : text).split('|') as [JsonType, string?];
  if (!present) return optional ? null : 'missing';
  if (value === null) return nullable === undefined ? 'is null' : null;
  return typeName(value) === type ? null : `expected ${type}, got ${typeName(value)}`;
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isFinite(value) ? 'number' : 'non-finite number';
  return typeof value;
}
