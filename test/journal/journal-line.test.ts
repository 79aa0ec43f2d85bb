import { createHash } from 'node:crypto';
import t from 'tap';
import { InvalidJournalEntryError } from '../../src/journal/journal-errors.js';
import {
  checkChain,
  computeEntryHash,
  decodeJournalLine,
  encodeJournalLine,
  GENESIS_HASH,
  type JournalEntry,
} from '../../src/journal/journal-line.js';

const AT = '2026-01-02T03:04:05.678Z';
const data = { repository: 'team/app', tags: ['v1', 'latest'], size: 1234, nested: { z: true, a: null } };

function withoutNewline(bytes: Buffer): Buffer {
  return bytes.subarray(0, bytes.length - 1);
}

t.test('a line is the documented JSON, one per line, members in the documented order', async (t) => {
  const { bytes, receipt } = encodeJournalLine(1, AT, 'oci.manifest.pushed', data, GENESIS_HASH);
  const text = bytes.toString('utf8');
  t.ok(text.endsWith('\n'));
  t.equal(text.indexOf('\n'), text.length - 1, 'exactly one newline, at the end');
  const parsed = JSON.parse(text) as Record<string, unknown>;
  t.same(Object.keys(parsed), ['seq', 'at', 'kind', 'data', 'prev', 'hash']);
  t.equal(parsed['prev'], GENESIS_HASH);
  t.match(parsed['hash'], /^sha256:[0-9a-f]{64}$/);
  t.equal(receipt.hash, parsed['hash']);
  t.same(receipt, { seq: 1, at: AT, prev: GENESIS_HASH, hash: parsed['hash'] });
});

t.test('the hash is SHA-256 of the JCS text of the other members, recomputed by hand', async (t) => {
  const { receipt } = encodeJournalLine(7, AT, 'k', { b: [1, 'x'], a: { d: 2, c: 1 } }, GENESIS_HASH);
  const byHand =
    '{"at":"2026-01-02T03:04:05.678Z","data":{"a":{"c":1,"d":2},"b":[1,"x"]},"kind":"k",' +
    `"prev":"${GENESIS_HASH}","seq":7}`;
  t.equal(receipt.hash, `sha256:${createHash('sha256').update(byHand).digest('hex')}`);
});

t.test('the fast hashed text agrees with canonicalJson of the parsed line', async (t) => {
  const samples: unknown[] = [
    data,
    'text with "quotes" and \\ and \n',
    0.1,
    [],
    {},
    null,
    { '\u20ac': ['😀'] },
  ];
  let prev = GENESIS_HASH;
  for (const [i, sample] of samples.entries()) {
    const { bytes, receipt } = encodeJournalLine(i + 1, AT, 'sample', sample, prev);
    const parsed = JSON.parse(bytes.toString('utf8')) as JournalEntry;
    t.equal(computeEntryHash(parsed), receipt.hash, `sample ${i}`);
    prev = receipt.hash;
  }
});

t.test('decode accepts its own lines and returns the entry', async (t) => {
  const { bytes, receipt } = encodeJournalLine(1, AT, 'outbox.enqueued', data, GENESIS_HASH);
  const decoded = decodeJournalLine(withoutNewline(bytes));
  t.ok(decoded.ok);
  if (decoded.ok) {
    t.same(decoded.entry, {
      seq: 1,
      at: AT,
      kind: 'outbox.enqueued',
      data,
      prev: GENESIS_HASH,
      hash: receipt.hash,
    });
  }
});

t.test('decode refuses bad lines with the right code', async (t) => {
  const good = JSON.parse(encodeJournalLine(3, AT, 'k', data, GENESIS_HASH).bytes.toString('utf8')) as Record<
    string,
    unknown
  >;
  const variant = (change: (line: Record<string, unknown>) => void): Buffer => {
    const copy = structuredClone(good);
    change(copy);
    return Buffer.from(JSON.stringify(copy));
  };
  const cases: Array<[string, Buffer, string, boolean]> = [
    ['torn prefix', Buffer.from('{"seq":3,"at":"2026-'), 'ERR_JOURNAL_PARSE', true],
    ['empty', Buffer.alloc(0), 'ERR_JOURNAL_PARSE', true],
    ['NUL bytes', Buffer.alloc(16), 'ERR_JOURNAL_PARSE', true],
    ['an array', Buffer.from('[1,2]'), 'ERR_JOURNAL_PARSE', false],
    ['missing hash', variant((l) => delete l['hash']), 'ERR_JOURNAL_PARSE', false],
    ['extra member', variant((l) => (l['extra'] = 1)), 'ERR_JOURNAL_PARSE', false],
    ['seq zero', variant((l) => (l['seq'] = 0)), 'ERR_JOURNAL_PARSE', false],
    ['seq fraction', variant((l) => (l['seq'] = 1.5)), 'ERR_JOURNAL_PARSE', false],
    ['bad time', variant((l) => (l['at'] = 'yesterday')), 'ERR_JOURNAL_PARSE', false],
    ['bad kind', variant((l) => (l['kind'] = 'has space')), 'ERR_JOURNAL_PARSE', false],
    ['bad prev', variant((l) => (l['prev'] = 'sha256:xyz')), 'ERR_JOURNAL_PARSE', false],
    [
      'data changed',
      variant((l) => ((l['data'] as Record<string, unknown>)['size'] = 1235)),
      'ERR_JOURNAL_CHAIN',
      false,
    ],
    ['seq changed', variant((l) => (l['seq'] = 4)), 'ERR_JOURNAL_CHAIN', false],
    ['time changed', variant((l) => (l['at'] = '2026-01-02T03:04:05.679Z')), 'ERR_JOURNAL_CHAIN', false],
    ['prev changed', variant((l) => (l['prev'] = `sha256:${'1'.repeat(64)}`)), 'ERR_JOURNAL_CHAIN', false],
    ['lone surrogate escape', variant((l) => (l['data'] = '\ud800')), 'ERR_JOURNAL_PARSE', false],
  ];
  for (const [name, line, code, unparsable] of cases) {
    const decoded = decodeJournalLine(line);
    t.notOk(decoded.ok, `${name}: refused`);
    if (!decoded.ok) {
      t.equal(decoded.code, code, `${name}: code`);
      t.equal(decoded.unparsable, unparsable, `${name}: unparsable`);
    }
  }
});

t.test('checkChain needs seq + 1 and the previous hash', async (t) => {
  const first = encodeJournalLine(1, AT, 'k', 1, GENESIS_HASH);
  const second = encodeJournalLine(2, AT, 'k', 2, first.receipt.hash);
  const entry = JSON.parse(second.bytes.toString('utf8')) as JournalEntry;
  t.equal(checkChain(entry, 1, first.receipt.hash), null);
  t.match(checkChain(entry, 2, first.receipt.hash), /seq 2 follows seq 2/);
  t.match(checkChain(entry, 1, GENESIS_HASH), /prev does not match/);
});

t.test('kinds and data that cannot be journaled are refused before anything is written', async (t) => {
  for (const kind of ['', ' lead', 'a b', 'x'.repeat(129), 'line\nbreak']) {
    t.throws(
      () => encodeJournalLine(1, AT, kind, {}, GENESIS_HASH),
      InvalidJournalEntryError,
      JSON.stringify(kind),
    );
  }
  t.throws(() => encodeJournalLine(1, AT, 'k', undefined, GENESIS_HASH), InvalidJournalEntryError);
  t.throws(() => encodeJournalLine(1, AT, 'k', { n: Number.NaN }, GENESIS_HASH), InvalidJournalEntryError);
});
