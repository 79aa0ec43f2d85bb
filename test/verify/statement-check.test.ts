import t from 'tap';
import { formatRepository } from '../../src/oci/reference.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/provenance/statement-types.js';
import { checkStatement } from '../../src/verify/statement-check.js';
import { parseVerifyTarget } from '../../src/verify/verify-target.js';
import { statementFixture } from './statement-fixture.js';

const bytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

t.test('accepts a statement naming the digest as a subject of that repository', async (t) => {
  const { statement, hex, name } = statementFixture();
  const result = checkStatement(
    IN_TOTO_PAYLOAD_TYPE,
    bytes(statement),
    parseVerifyTarget(`${name}@sha256:${hex}`),
  );
  t.equal(result.ok, true);
  if (result.ok) t.equal(result.subject.name, name);
});

t.test('subject names match across Docker Hub spellings', async (t) => {
  const { statement, hex } = statementFixture({ name: 'registry-1.docker.io/library/alpine' });
  const result = checkStatement(
    IN_TOTO_PAYLOAD_TYPE,
    bytes(statement),
    parseVerifyTarget(`docker.io/alpine@sha256:${hex}`),
  );
  t.equal(result.ok, true);
});

t.test('refuses, with a reason for each rule', async (t) => {
  const { statement, hex, name } = statementFixture();
  const target = parseVerifyTarget(`${name}@sha256:${hex}`);
  const cases: [string, string, Buffer, string][] = [
    ['payload type', 'application/json', bytes(statement), 'payload_type'],
    ['not JSON', IN_TOTO_PAYLOAD_TYPE, Buffer.from('{"_type":'), 'not_json'],
    ['invalid UTF-8', IN_TOTO_PAYLOAD_TYPE, Buffer.from([0x7b, 0xff, 0x7d]), 'not_json'],
    [
      'old statement type',
      IN_TOTO_PAYLOAD_TYPE,
      bytes({ ...statement, _type: 'https://in-toto.io/Statement/v0.1' }),
      'statement_type',
    ],
    ['array', IN_TOTO_PAYLOAD_TYPE, bytes([statement]), 'statement_type'],
    [
      'SLSA v0.2',
      IN_TOTO_PAYLOAD_TYPE,
      bytes({ ...statement, predicateType: 'https://slsa.dev/provenance/v0.2' }),
      'predicate_type',
    ],
    [
      'no builder id',
      IN_TOTO_PAYLOAD_TYPE,
      bytes({ ...statement, predicate: { ...statement.predicate, runDetails: {} } }),
      'predicate_invalid',
    ],
    [
      'subject not a list',
      IN_TOTO_PAYLOAD_TYPE,
      bytes({ ...statement, subject: statement.subject[0] }),
      'predicate_invalid',
    ],
  ];
  for (const [label, type, payload, reason] of cases) {
    t.match(checkStatement(type, payload, target), { ok: false, reason }, label);
  }
});

t.test('a digest that is not a subject is refused, in any repository mismatch', async (t) => {
  const { statement, hex, name } = statementFixture();
  const otherDigest = parseVerifyTarget(`${name}@sha256:${'0'.repeat(64)}`);
  t.match(checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(statement), otherDigest), {
    ok: false,
    reason: 'not_a_subject',
  });
  const otherRepository = parseVerifyTarget(`registry.test:5000/lab/other@sha256:${hex}`);
  t.match(checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(statement), otherRepository), {
    ok: false,
    reason: 'not_a_subject',
  });
  const otherPort = parseVerifyTarget(`registry.test:5001/lab/app@sha256:${hex}`);
  t.match(checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(statement), otherPort), {
    ok: false,
    reason: 'not_a_subject',
  });
  const nameless = { ...statement, subject: [{ digest: { sha256: hex } }] };
  t.match(checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(nameless), parseVerifyTarget(`${name}@sha256:${hex}`)), {
    ok: false,
    reason: 'not_a_subject',
  });
});

t.test('a subject the proxy named from host:443 is matched by every spelling of that registry', async (t) => {
  // The subject name is what the statement builder writes for an exchange addressed to reg.test:443.
  const { statement, hex } = statementFixture({ name: formatRepository('reg.test:443', 'lab/app') });
  for (const spelling of ['reg.test:443', 'reg.test', 'Reg.Test.:443', 'reg.test.']) {
    const target = parseVerifyTarget(`${spelling}/lab/app@sha256:${hex}`);
    t.match(checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(statement), target), { ok: true }, spelling);
  }
  for (const other of ['reg.test:8443', 'reg.test:80', 'other.test:443']) {
    const target = parseVerifyTarget(`${other}/lab/app@sha256:${hex}`);
    t.match(
      checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(statement), target),
      { ok: false, reason: 'not_a_subject' },
      `${other} is another registry`,
    );
  }
});
