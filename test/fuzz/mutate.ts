import type { Prng } from './prng.js';

/** Bytes an HTTP parser treats specially, for insertion. */
const SPECIAL = [
  '\r',
  '\n',
  '\0',
  '\r\n',
  '\r\n\r\n',
  ':',
  ' ',
  '\t',
  ';',
  '"',
  '\x7f',
  '\xff',
  '%',
  '0\r\n\r\n',
];
/** Lengths and sizes that break counters, for replacing numbers. */
const HUGE_NUMBERS = [
  '99999999999999999999',
  '18446744073709551616',
  '-1',
  '0x10',
  '1e9',
  'ffffffffffffffff',
  '4294967296',
  '2147483648',
  ' 5',
  '5 5',
  '',
];
const BAD_CHUNK_SIZES = ['zz', '-5', 'ffffffffffffffffff', '5;ext="unterminated', '\t5', '0x5', '1 2', ''];
const BAD_TRAILERS = [
  'X-Trailer: a\r\n\r\n',
  'Content-Length: 5\r\n\r\n',
  'Transfer-Encoding: chunked\r\n\r\n',
  ': no-name\r\n\r\n',
  'Bad Trailer\r\n\r\n',
  `X-Long: ${'x'.repeat(70_000)}\r\n\r\n`,
  'X-Nul: a\0b\r\n\r\n',
];

export interface Mutation {
  readonly name: string;
  apply(input: Buffer, rng: Prng): Buffer;
}

function at(input: Buffer, rng: Prng): number {
  return rng.int(input.length + 1);
}

const MUTATIONS: readonly Mutation[] = [
  {
    name: 'bit_flip',
    apply(input, rng) {
      const out = Buffer.from(input);
      const flips = 1 + rng.int(8);
      for (let i = 0; i < flips && out.length > 0; i++) {
        const index = rng.int(out.length);
        out[index] = (out[index] ?? 0) ^ (1 << rng.int(8));
      }
      return out;
    },
  },
  {
    name: 'truncate',
    apply: (input, rng) => input.subarray(0, rng.int(input.length)),
  },
  {
    name: 'insert_special',
    apply(input, rng) {
      const index = at(input, rng);
      return Buffer.concat([
        input.subarray(0, index),
        Buffer.from(rng.pick(SPECIAL), 'latin1'),
        input.subarray(index),
      ]);
    },
  },
  {
    name: 'delete_range',
    apply(input, rng) {
      const start = at(input, rng);
      return Buffer.concat([input.subarray(0, start), input.subarray(start + 1 + rng.int(16))]);
    },
  },
  {
    name: 'duplicate_range',
    apply(input, rng) {
      const start = at(input, rng);
      const end = Math.min(input.length, start + 1 + rng.int(64));
      return Buffer.concat([input.subarray(0, end), input.subarray(start, end), input.subarray(end)]);
    },
  },
  {
    name: 'huge_number',
    apply(input, rng) {
      const text = input.toString('latin1');
      const numbers = [...text.matchAll(/\d+/g)];
      if (numbers.length === 0) return Buffer.concat([input, Buffer.from(rng.pick(HUGE_NUMBERS))]);
      const match = rng.pick(numbers);
      const index = match.index ?? 0;
      return Buffer.from(
        text.slice(0, index) + rng.pick(HUGE_NUMBERS) + text.slice(index + match[0].length),
        'latin1',
      );
    },
  },
  {
    name: 'duplicate_header',
    apply(input, rng) {
      const text = input.toString('latin1');
      const lines = text.split('\r\n');
      const headerLines = lines.map((l, i) => [l, i] as const).filter(([l, i]) => i > 0 && l.includes(':'));
      if (headerLines.length === 0) return input;
      const [line, index] = rng.pick(headerLines);
      const variant = rng.pick([line, line.toUpperCase(), `${line}, x`, line.replace(/:\s*.*/, ': 0')]);
      lines.splice(index + 1, 0, variant);
      return Buffer.from(lines.join('\r\n'), 'latin1');
    },
  },
  {
    name: 'bad_chunk_size',
    apply(input, rng) {
      const text = input.toString('latin1');
      const sizes = [...text.matchAll(/\r\n\r\n([0-9a-fA-F]+)\r\n|\r\n([0-9a-fA-F]+)\r\n/g)];
      const bad = rng.pick(BAD_CHUNK_SIZES);
      if (sizes.length === 0) return Buffer.concat([input, Buffer.from(`${bad}\r\nxx\r\n`)]);
      const match = rng.pick(sizes);
      const size = match[1] ?? match[2] ?? '';
      const index = (match.index ?? 0) + match[0].indexOf(size);
      return Buffer.from(text.slice(0, index) + bad + text.slice(index + size.length), 'latin1');
    },
  },
  {
    name: 'bad_trailer',
    apply(input, rng) {
      const text = input.toString('latin1');
      const end = text.lastIndexOf('0\r\n');
      const trailer = rng.pick(BAD_TRAILERS);
      if (end < 0) return Buffer.from(`${text}0\r\n${trailer}`, 'latin1');
      return Buffer.from(`${text.slice(0, end)}0\r\n${trailer}`, 'latin1');
    },
  },
  {
    name: 'append_garbage',
    apply(input, rng) {
      const garbage = Buffer.alloc(1 + rng.int(512));
      for (let i = 0; i < garbage.length; i++) garbage[i] = rng.int(256);
      return Buffer.concat([input, garbage]);
    },
  },
  {
    name: 'long_field',
    apply(input, rng) {
      const index = at(input, rng);
      const length = rng.pick([300, 9_000, 70_000, 200_000]);
      return Buffer.concat([input.subarray(0, index), Buffer.alloc(length, 'A'), input.subarray(index)]);
    },
  },
];

/** Applies 1 to 3 mutations to a valid seed; the names say what was done, for the report. */
export function mutate(seed: Buffer, rng: Prng): { bytes: Buffer; mutations: string[] } {
  let bytes = seed;
  const mutations: string[] = [];
  const count = 1 + rng.int(3);
  for (let i = 0; i < count; i++) {
    const mutation = rng.pick(MUTATIONS);
    bytes = mutation.apply(bytes, rng);
    mutations.push(mutation.name);
  }
  return { bytes, mutations };
}

const ODD_VALUES: readonly unknown[] = [
  null,
  -1,
  1e308,
  2 ** 53 + 1,
  '',
  'sha256:',
  'sha256:zz',
  `sha256:${'0'.repeat(64)}`,
  'sha512:abc',
  '../../etc/passwd',
  'x'.repeat(10_000),
  {},
  [],
  [null],
  { digest: 1 },
  true,
];

/**
 * Mutates a JSON document by its structure: a random value replaced by an odd one (wrong type,
 * huge number, bad digest), a key dropped, or the document nested thousands of levels deep.
 */
export function mutateJson(text: string, rng: Prng): { bytes: Buffer; mutations: string[] } {
  if (rng.chance(0.1)) {
    const depth = rng.pick([100, 5_000, 100_000]);
    return {
      bytes: Buffer.from(`${'['.repeat(depth)}${text}${']'.repeat(depth)}`),
      mutations: ['json_deep'],
    };
  }
  const document = JSON.parse(text) as unknown;
  const containers: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (value: unknown) => {
    if (value === null || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      containers.push({
        parent: value as Record<string, unknown>,
        key: Array.isArray(value) ? Number(key) : key,
      });
      walk(child);
    }
  };
  walk(document);
  const slot = rng.pick(containers);
  if (rng.chance(0.3) && !Array.isArray(slot.parent)) {
    delete (slot.parent as Record<string, unknown>)[slot.key as string];
    return { bytes: Buffer.from(JSON.stringify(document)), mutations: ['json_drop_key'] };
  }
  (slot.parent as Record<string | number, unknown>)[slot.key] = rng.pick(ODD_VALUES);
  return { bytes: Buffer.from(JSON.stringify(document)), mutations: ['json_odd_value'] };
}
