import t from 'tap';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/provenance/statement-types.js';
import { parseDigestReference } from '../../src/verify/image-reference.js';
import { checkStatement } from '../../src/verify/statement-check.js';
import { statementFixture } from './statement-fixture.js';

const bytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

t.test('accepts a statement naming the digest as a subject of that repository', async (t) => {
  const { statement, hex, name } = statementFixture();
  const result = checkStatement(
    IN_TOTO_PAYLOAD_TYPE,
    bytes(statement),
    parseDigestReference(`${name}@sha256:${hex}`),
  );
  t.equal(result.ok, true);
  if (result.ok) t.equal(result.subject.name, name);
});

t.test('subject names match across Docker Hub spellings', async (t) => {
  const { statement, hex } = statementFixture({ name: 'registry-1.docker.io/library/alpine' });
  const result = checkStatement(
    IN_TOTO_PAYLOAD_TYPE,
    bytes(statement),
    parseDigestReference(`docker.io/alpine@sha256:${hex}`),
  );
  t.equal(result.ok, true);
});

t.test('refuses, with a reason for each rule', async (t) => {
  const { statement, hex, name } = statementFixture();
  const target = parseDigestReference(`${name}@sha256:${hex}`);
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
  const otherDigest = parseDigestReference(`${name}@sha256:${'0'.repeat(64)}`);
  t.match(checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(statement), otherDigest), {
    ok: false,
    reason: 'not_a_subject',
  });
  const otherRepository = parseDigestReference(`registry.test:5000/lab/other@sha256:${hex}`);
  t.match(checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(statement), otherRepository), {
    ok: false,
    reason: 'not_a_subject',
  });
  const otherPort = parseDigestReference(`registry.test:5001/lab/app@sha256:${hex}`);
  t.match(checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(statement), otherPort), {
    ok: false,
    reason: 'not_a_subject',
  });
  const nameless = { ...statement, subject: [{ digest: { sha256: hex } }] };
  t.match(
    checkStatement(IN_TOTO_PAYLOAD_TYPE, bytes(nameless), parseDigestReference(`${name}@sha256:${hex}`)),
    {
      ok: false,
      reason: 'not_a_subject',
    },
  );
});
