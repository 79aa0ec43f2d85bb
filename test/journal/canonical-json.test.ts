import t from 'tap';
import { canonicalJson } from '../../src/journal/canonical-json.js';
import { InvalidJournalEntryError } from '../../src/journal/journal-errors.js';

t.test('RFC 8785 section 3.2.2 sample: numbers, string escapes, literals, key order', async (t) => {
  const input = JSON.parse(
    '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
      '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
  );
  t.equal(
    canonicalJson(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
});

t.test('RFC 8785 section 3.2.3 sample: keys sort by UTF-16 code units, not code points', async (t) => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  // Compared as text: Object.keys would list the integer-like key "1" first whatever the bytes say.
  const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'] as const;
  const expected = `{${order.map((k) => `${JSON.stringify(k)}:${JSON.stringify(input[k])}`).join(',')}}`;
  t.equal(canonicalJson(input), expected);
});

t.test('encodes plain JSON values', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    [
      'nested objects sorted at every level',
      { b: { d: 1, c: [2, { f: 0, e: 1 }] }, a: null },
      '{"a":null,"b":{"c":[2,{"e":1,"f":0}],"d":1}}',
    ],
    ['negative zero is zero', -0, '0'],
    ['large and small numbers', [1e21, 1e-7, 123456789012345680000], '[1e+21,1e-7,123456789012345680000]'],
    ['undefined members are left out', { a: undefined, b: 1 }, '{"b":1}'],
    [
      'null-prototype objects are plain',
      Object.assign(Object.create(null) as object, { z: 'x' }),
      '{"z":"x"}',
    ],
    ['empty containers', { a: [], b: {} }, '{"a":[],"b":{}}'],
    ['surrogate pairs stay literal', '😀', '"😀"'],
    ['controls escaped', '\u0000\u001f\t', '"\\u0000\\u001f\\t"'],
  ];
  for (const [name, value, expected] of cases) t.equal(canonicalJson(value), expected, name);
});

t.test('refuses what JSON cannot carry faithfully, naming where', async (t) => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = cyclic;
  const cases: Array<[string, unknown, string]> = [
    ['NaN', { n: Number.NaN }, '/n'],
    ['Infinity', [Number.POSITIVE_INFINITY], '/0'],
    ['undefined in an array', [1, undefined], '/1'],
    ['bigint', { big: 1n }, '/big'],
    ['function', { f: () => 1 }, '/f'],
    ['symbol', { s: Symbol('x') }, '/s'],
    ['Date', { when: new Date(0) }, '/when'],
    ['Map', { m: new Map() }, '/m'],
    ['Buffer', { b: Buffer.from('x') }, '/b'],
    ['cycle', cyclic, '/self'],
    ['lone surrogate in a string', { s: 'a\ud800b' }, '/s'],
    ['lone surrogate in a key', { '\udc00': 1 }, '/\udc00'],
    ['undefined at top level', undefined, ''],
  ];
  for (const [name, value, path] of cases) {
    t.throws(() => canonicalJson(value), InvalidJournalEntryError, name);
    try {
      canonicalJson(value);
    } catch (err) {
      t.equal((err as InvalidJournalEntryError).path, path, `${name}: path`);
      t.equal((err as InvalidJournalEntryError).code, 'ERR_JOURNAL_ENTRY', `${name}: code`);
    }
  }
});

t.test('a repeated (non-cyclic) reference is fine', async (t) => {
  const shared = { x: 1 };
  t.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}');
});
