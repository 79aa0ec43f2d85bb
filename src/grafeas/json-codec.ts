import { decodeBase64Strict } from '../signing/base64.js';
import { ENUMS, type FieldSpec, type MessageSpec, messageSpec } from './schema.js';
import { invalidArgument, unimplemented } from './status.js';
import { normalizeTimestamp } from './timestamp.js';

export type JsonObject = { [key: string]: unknown };

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Reads a message in proto3 JSON form the way a v1 server does, and returns its canonical form.
 *
 * - Field names: the JSON name or the proto name; anything else is refused (unknown field).
 * - `null` means "not set"; fields equal to their default are dropped, as Google servers omit them.
 * - bytes are re-encoded as standard padded base64, enums as names, timestamps in UTC.
 * - Two members of one oneof, or a field this store does not keep, are refused.
 *
 * `path` names the value in error messages (`occurrence`, `occurrences[2]`).
 */
export function decodeMessage(fullName: string, value: unknown, path: string): JsonObject {
  return readMessage(messageSpec(fullName), value, path);
}

function readMessage(spec: MessageSpec, value: unknown, path: string): JsonObject {
  if (!isPlainObject(value)) throw invalidArgument(`${path}: expected a JSON object for ${spec.fullName}`);
  const out: JsonObject = {};
  const seen = new Map<number, string>();
  const oneofs = new Map<string, string>();
  for (const [key, raw] of Object.entries(value)) {
    const field = spec.fields.find((f) => f.jsonName === key || f.name === key);
    if (field === undefined) {
      throw invalidArgument(
        `Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`,
      );
    }
    const earlier = seen.get(field.id);
    if (earlier !== undefined) {
      throw invalidArgument(`${path}: field "${field.jsonName}" given twice (as "${earlier}" and "${key}")`);
    }
    seen.set(field.id, key);
    if (raw === null) continue;
    const fieldPath = `${path}.${field.jsonName}`;
    if (field.supported === false) {
      throw unimplemented(
        `${fieldPath} is not supported by this store: it keeps BUILD notes and occurrences only`,
      );
    }
    if (field.oneof !== undefined) {
      const other = oneofs.get(field.oneof);
      if (other !== undefined) {
        throw invalidArgument(
          `${path}: "${other}" and "${field.jsonName}" both set, but they are one of "${field.oneof}"`,
        );
      }
      oneofs.set(field.oneof, field.jsonName);
    }
    const decoded = readField(field, raw, fieldPath);
    if (field.oneof !== undefined || !isDefault(field, decoded)) out[field.jsonName] = decoded;
  }
  return out;
}

function readField(field: FieldSpec, raw: unknown, path: string): unknown {
  if (field.map === true) {
    if (!isPlainObject(raw)) throw invalidArgument(`${path}: expected a JSON object (map)`);
    const out: JsonObject = {};
    for (const [key, entry] of Object.entries(raw)) {
      const entryPath = `${path}["${key}"]`;
      if (entry === null && field.kind !== 'value')
        throw invalidArgument(`${entryPath}: map values cannot be null`);
      // defineProperty: a key such as "__proto__" must stay data, not reach the prototype.
      Object.defineProperty(out, key, {
        value: readSingle(field, entry, entryPath),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  if (field.repeated === true) {
    if (!Array.isArray(raw)) throw invalidArgument(`${path}: expected a JSON array`);
    return raw.map((entry, i) => {
      if (entry === null) throw invalidArgument(`${path}[${i}]: repeated values cannot be null`);
      return readSingle(field, entry, `${path}[${i}]`);
    });
  }
  return readSingle(field, raw, path);
}

function readSingle(field: FieldSpec, raw: unknown, path: string): unknown {
  switch (field.kind) {
    case 'string':
      if (typeof raw !== 'string') throw invalidArgument(`${path}: expected a string`);
      return raw;
    case 'bool':
      if (typeof raw !== 'boolean') throw invalidArgument(`${path}: expected true or false`);
      return raw;
    case 'int32': {
      const n = readInteger(raw, path);
      if (n < INT32_MIN || n > INT32_MAX) throw invalidArgument(`${path}: out of range for int32`);
      return Number(n);
    }
    case 'int64':
      return String(readInteger(raw, path));
    case 'bytes':
      if (typeof raw !== 'string') throw invalidArgument(`${path}: expected base64 bytes`);
      try {
        return decodeBase64Strict(raw, path).toString('base64');
      } catch {
        throw invalidArgument(`${path}: not valid base64`);
      }
    case 'enum':
      return readEnum(field.typeName!, raw, path);
    case 'timestamp': {
      const normalized = typeof raw === 'string' ? normalizeTimestamp(raw) : undefined;
      if (normalized === undefined) {
        throw invalidArgument(`${path}: expected an RFC 3339 timestamp between years 0001 and 9999`);
      }
      return normalized;
    }
    case 'struct':
      if (!isPlainObject(raw))
        throw invalidArgument(`${path}: expected a JSON object (google.protobuf.Struct)`);
      return raw;
    case 'value':
      return raw;
    case 'message':
      return readMessage(messageSpec(field.typeName!), raw, path);
  }
}

function readInteger(raw: unknown, path: string): bigint {
  if (typeof raw === 'number' && Number.isInteger(raw)) return BigInt(raw);
  if (typeof raw === 'string' && /^-?\d{1,20}$/.test(raw)) return BigInt(raw);
  throw invalidArgument(`${path}: expected an integer`);
}

function readEnum(typeName: string, raw: unknown, path: string): string {
  const values = ENUMS.get(typeName)?.values ?? [];
  if (typeof raw === 'string' && values.includes(raw)) return raw;
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw < values.length)
    return values[raw]!;
  throw invalidArgument(`${path}: invalid value ${JSON.stringify(raw)} for enum ${typeName}`);
}

/** proto3 has no presence for scalars, lists and maps: their default is the same as "not set". Messages keep presence. */
function isDefault(field: FieldSpec, value: unknown): boolean {
  if (field.repeated === true) return (value as unknown[]).length === 0;
  if (field.map === true) return Object.keys(value as JsonObject).length === 0;
  switch (field.kind) {
    case 'string':
    case 'bytes':
      return value === '';
    case 'bool':
      return value === false;
    case 'int32':
      return value === 0;
    case 'int64':
      return value === '0';
    case 'enum':
      return value === ENUMS.get(field.typeName!)?.values[0];
    default:
      return false;
  }
}

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
