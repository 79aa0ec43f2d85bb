/**
 * The official Grafeas v1 protos, loaded with protobufjs (a test-only dependency), and a strict
 * reader of proto3 JSON against them.
 *
 * protobufjs's own `fromObject` ignores fields it does not know, which would let a misspelt
 * field through; `readJson` walks the JSON instead and refuses any key that is not the JSON name
 * of a field of the message, at every depth, then hands protobufjs an object it can verify,
 * encode and decode.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** Where the .proto files are: the grafeas package, and google/api/* from google-gax (its dependency). */
function protoDirs(): string[] {
  const grafeasPackage = dirname(require.resolve('@google-cloud/grafeas/package.json'));
  const dirs = [join(grafeasPackage, 'build', 'protos')];
  for (let dir = grafeasPackage; ; dir = dirname(dir)) {
    const gax = join(dir, 'node_modules', 'google-gax', 'build', 'protos');
    if (existsSync(gax)) {
      dirs.push(gax);
      break;
    }
    if (dirname(dir) === dir) throw new Error('google-gax protos (google/api/*.proto) not found');
  }
  return dirs;
}

export function loadGrafeasProtos(): protobuf.Root {
  const dirs = protoDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of dirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target; // google/protobuf/*.proto: bundled with protobufjs
  };
  root.loadSync('grafeas/v1/grafeas.proto', { keepCase: true });
  root.resolveAll();
  return root;
}

/** The JSON name protoc gives a field: its json_name option, or the camel-cased proto name. */
export function jsonNameOf(field: protobuf.Field): string {
  const option = field.options?.json_name;
  return typeof option === 'string'
    ? option
    : field.name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Reads `json` as the proto3 JSON form of `type`, strictly: every key must be a field's JSON
 * name, every value of the field's type; well-known types in their JSON forms. Returns the
 * object protobufjs's fromObject expects, or throws naming the path.
 */
export function readJson(type: protobuf.Type, json: unknown, path = type.name): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${path}: expected a JSON object for ${type.fullName}`);
  }
  const out: Record<string, unknown> = {};
  const oneofs = new Map<string, string>();
  for (const [key, value] of Object.entries(json)) {
    const field = type.fieldsArray.find((f) => jsonNameOf(f) === key);
    if (field === undefined) {
      throw new Error(
        `${path}: "${key}" is not a field of ${type.fullName} (fields: ${type.fieldsArray.map(jsonNameOf).join(', ')})`,
      );
    }
    if (field.partOf) {
      const other = oneofs.get(field.partOf.name);
      if (other !== undefined)
        throw new Error(`${path}: "${other}" and "${key}" are both set in oneof ${field.partOf.name}`);
      oneofs.set(field.partOf.name, key);
    }
    out[field.name] = readField(field, value, `${path}.${key}`);
  }
  return out;
}

function readField(field: protobuf.Field, value: unknown, path: string): unknown {
  if (field instanceof protobuf.MapField) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new Error(`${path}: expected a map`);
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, readSingle(field, v, `${path}["${k}"]`)]),
    );
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw new Error(`${path}: expected an array`);
    return value.map((v, i) => readSingle(field, v, `${path}[${i}]`));
  }
  return readSingle(field, value, path);
}

const INTEGER_TYPES = [
  'int32',
  'uint32',
  'sint32',
  'fixed32',
  'sfixed32',
  'int64',
  'uint64',
  'sint64',
  'fixed64',
  'sfixed64',
];

function readSingle(field: protobuf.Field, value: unknown, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === 'string' && value in resolved.values) return resolved.values[value];
    throw new Error(`${path}: ${JSON.stringify(value)} is not a value of ${resolved.fullName}`);
  }
  if (resolved instanceof protobuf.Type) return readMessage(resolved, value, path);
  switch (field.type) {
    case 'string':
      if (typeof value !== 'string') throw new Error(`${path}: expected a string`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new Error(`${path}: expected a boolean`);
      return value;
    case 'bytes':
      if (
        typeof value !== 'string' ||
        !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value)
      ) {
        throw new Error(`${path}: expected standard padded base64`);
      }
      return Buffer.from(value, 'base64');
    case 'double':
    case 'float':
      if (typeof value !== 'number') throw new Error(`${path}: expected a number`);
      return value;
    default:
      if (INTEGER_TYPES.includes(field.type)) {
        if (
          (typeof value === 'number' && Number.isInteger(value)) ||
          (typeof value === 'string' && /^-?\d+$/.test(value))
        ) {
          return value;
        }
        throw new Error(`${path}: expected an integer`);
      }
      throw new Error(`${path}: unhandled field type ${field.type}`);
  }
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;

function readMessage(type: protobuf.Type, value: unknown, path: string): unknown {
  switch (type.fullName) {
    case '.google.protobuf.Timestamp': {
      const m = typeof value === 'string' ? RFC3339.exec(value) : null;
      if (m === null)
        throw new Error(`${path}: expected an RFC 3339 UTC timestamp, got ${JSON.stringify(value)}`);
      const seconds = Date.parse(`${m[1]}Z`) / 1000;
      if (!Number.isFinite(seconds)) throw new Error(`${path}: not a real date`);
      return { seconds, nanos: Number((m[2] ?? '').padEnd(9, '0')) };
    }
    case '.google.protobuf.Struct':
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new Error(`${path}: expected an object (Struct)`);
      return { fields: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, protoValue(v)])) };
    case '.google.protobuf.Value':
      return protoValue(value);
    case '.google.protobuf.Empty':
      if (typeof value !== 'object' || value === null || Object.keys(value).length > 0)
        throw new Error(`${path}: expected {}`);
      return {};
    default:
      if (type.fullName.startsWith('.google.protobuf.'))
        throw new Error(`${path}: unhandled well-known type ${type.fullName}`);
      return readJson(type, value, path);
  }
}

function protoValue(value: unknown): Record<string, unknown> {
  if (value === null) return { nullValue: 0 };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(protoValue) } };
  if (typeof value === 'object') {
    return {
      structValue: { fields: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, protoValue(v)])) },
    };
  }
  throw new Error(`not a JSON value: ${String(value)}`);
}

/**
 * Checks `json` against `type` as tightly as we can: the strict walk, then protobufjs's verify,
 * then a binary round trip that must keep every field.
 */
export function assertConforms(type: protobuf.Type, json: unknown, path = type.name): void {
  const object = readJson(type, json, path);
  const problem = type.verify(object);
  if (problem !== null) throw new Error(`${path}: protobufjs verify: ${problem}`);
  const message = type.fromObject(object);
  const options = { longs: String, enums: String, bytes: String, defaults: false, json: true };
  const before = JSON.stringify(type.toObject(message, options));
  const after = JSON.stringify(type.toObject(type.decode(type.encode(message).finish()), options));
  if (before !== after) throw new Error(`${path}: changed in a binary round trip:\n${before}\n${after}`);
}

/** One google.api.http binding of an rpc. */
export interface HttpBinding {
  readonly rpc: string;
  readonly method: protobuf.Method;
  readonly verb: string;
  readonly template: string;
  readonly pattern: RegExp;
  /** Request fields bound by the path. */
  readonly pathFields: string[];
  readonly body: string | undefined;
}

/** Every HTTP binding of the Grafeas service, from the google.api.http annotations. */
export function httpBindings(root: protobuf.Root): HttpBinding[] {
  const service = root.lookupService('grafeas.v1.Grafeas');
  const bindings: HttpBinding[] = [];
  for (const method of service.methodsArray) {
    for (const option of method.parsedOptions ?? []) {
      const rule = (option as Record<string, unknown>)['(google.api.http)'] as
        | Record<string, unknown>
        | undefined;
      if (rule === undefined) continue;
      const extra = rule.additional_bindings;
      const rules = [rule, ...(Array.isArray(extra) ? extra : extra ? [extra] : [])] as Record<
        string,
        unknown
      >[];
      for (const r of rules) {
        for (const verb of ['get', 'post', 'patch', 'delete', 'put']) {
          const template = r[verb];
          if (typeof template !== 'string') continue;
          const pathFields: string[] = [];
          const source = template
            .replace(/[.*+?^$()|[\]\\]/g, (c) => (c === '*' ? c : `\\${c}`))
            .replace(/\{(\w+)(?:=([^}]+))?\}/g, (_, name: string, pattern?: string) => {
              pathFields.push(name);
              const segments = (pattern ?? '*').replace(/\*\*/g, '.+').replace(/\*/g, '[^/]+');
              return `(${segments})`;
            });
          bindings.push({
            rpc: method.name,
            method,
            verb: verb.toUpperCase(),
            template,
            pattern: new RegExp(`^${source}$`),
            pathFields,
            body: typeof r.body === 'string' ? r.body : undefined,
          });
        }
      }
    }
  }
  return bindings;
}
