import { createHash } from 'node:crypto';
import t from 'tap';
import { digestOfHash, parseDigest, sha256Hex, sha256Of, tryParseDigest } from '../../src/oci/digest.js';
import { InvalidDigestError } from '../../src/oci/errors.js';

const HEX64 = 'a'.repeat(64);

t.test('well-formed digests parse into algorithm and encoded part', async (t) => {
  const good: [string, string, string][] = [
    [`sha256:${HEX64}`, 'sha256', HEX64],
    [`sha512:${'b'.repeat(128)}`, 'sha512', 'b'.repeat(128)],
    // Unregistered algorithms follow the generic grammar: parseable, not verifiable by the proxy.
    [
      'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8',
      'multihash+base58',
      'QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8',
    ],
    ['blake3.v1:ABC=_-', 'blake3.v1', 'ABC=_-'],
  ];
  for (const [text, algorithm, encoded] of good) {
    const digest = parseDigest(text);
    t.same({ ...digest }, { algorithm, encoded, value: text }, text);
  }
});

t.test('malformed digests are refused with ERR_OCI_DIGEST', async (t) => {
  const bad = [
    '',
    HEX64,
    ':abc',
    'sha256:',
    `sha256:${HEX64.toUpperCase()}`,
    `sha256:${'a'.repeat(63)}`,
    `sha256:${'a'.repeat(65)}`,
    `sha256:${'g'.repeat(64)}`,
    `SHA256:${HEX64}`,
    `sha512:${HEX64}`,
    'sha256+:abc',
    'sha256:abc/def',
    `sha256:${'a'.repeat(300)}`,
  ];
  for (const text of bad) {
    t.throws(() => parseDigest(text), InvalidDigestError, JSON.stringify(text));
    t.equal(tryParseDigest(text), null);
  }
  const error = (() => {
    try {
      parseDigest('sha256:nope');
    } catch (e) {
      return e as InvalidDigestError;
    }
  })();
  t.equal(error?.code, 'ERR_OCI_DIGEST');
});

t.test('digests the proxy computes', async (t) => {
  t.equal(sha256Of(''), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  const running = createHash('sha256').update('hello ');
  t.equal(digestOfHash(running), sha256Of('hello '), 'digest of a running hash');
  running.update('world');
  t.equal(digestOfHash(running), sha256Of('hello world'), 'the state was not consumed');
  t.equal(sha256Hex(`sha256:${HEX64}`), HEX64);
  t.equal(sha256Hex(`sha512:${'b'.repeat(128)}`), null);
});
