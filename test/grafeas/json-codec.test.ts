import t from 'tap';
import { decodeMessage } from '../../src/grafeas/json-codec.js';
import { NOTE, OCCURRENCE } from '../../src/grafeas/schema.js';

t.test('unknown fields are refused at their path', async (t) => {
  t.throws(
    () =>
      decodeMessage(OCCURRENCE, { build: { inTotoSlsaProvenanceV1: { predicate: { extra: 1 } } } }, 'occ'),
    {
      status: 'INVALID_ARGUMENT',
      message: `Invalid JSON payload received. Unknown name "extra" at 'occ.build.inTotoSlsaProvenanceV1.predicate': Cannot find field.`,
    },
  );
  t.throws(() => decodeMessage(NOTE, [], 'note'), {
    message: /note: expected a JSON object for grafeas.v1.Note/,
  });
});

t.test('proto names and JSON names are both read, JSON names written', async (t) => {
  t.same(decodeMessage(NOTE, { short_description: 'a', related_note_names: ['x'] }, 'n'), {
    shortDescription: 'a',
    relatedNoteNames: ['x'],
  });
  t.same(
    decodeMessage(
      OCCURRENCE,
      { build: { in_toto_slsa_provenance_v1: { type: 'T', predicate_type: 'P' } } },
      'o',
    ),
    { build: { inTotoSlsaProvenanceV1: { _type: 'T', predicateType: 'P' } } },
    '_type is the json_name of `type`',
  );
  t.throws(() => decodeMessage(NOTE, { kind: 'BUILD', kind_: 1 }, 'n'), { message: /Unknown name "kind_"/ });
  t.throws(() => decodeMessage(NOTE, { shortDescription: 'a', short_description: 'b' }, 'n'), {
    message: /given twice/,
  });
});

t.test('defaults and null are "not set"; message fields keep presence', async (t) => {
  t.same(
    decodeMessage(
      OCCURRENCE,
      { resourceUri: '', kind: 'NOTE_KIND_UNSPECIFIED', remediation: null, envelope: {}, build: {} },
      'o',
    ),
    { envelope: {}, build: {} },
  );
  t.same(decodeMessage(NOTE, { relatedUrl: [], build: { builderVersion: '' } }, 'n'), { build: {} });
});

t.test('scalar forms are checked and normalised', async (t) => {
  const envelope = (e: unknown) => decodeMessage(OCCURRENCE, { envelope: e }, 'o').envelope;
  t.same(envelope({ payload: 'aGk', signatures: [{ sig: '-_-_' }] }), {
    payload: 'aGk=',
    signatures: [{ sig: '+/+/' }],
  });
  t.throws(() => envelope({ payload: 'a' }), { message: /o\.envelope\.payload: not valid base64/ });
  t.throws(() => envelope({ payload: 'aGk*' }), { message: /not valid base64/ });
  t.throws(() => envelope({ payload: 3 }), { message: /expected base64 bytes/ });
  t.throws(() => envelope({ signatures: [null] }), {
    message: /signatures\[0\]: repeated values cannot be null/,
  });
  t.throws(() => envelope({ signatures: {} }), { message: /signatures: expected a JSON array/ });
  t.equal(decodeMessage(NOTE, { kind: 2 }, 'n').kind, 'BUILD');
  t.throws(() => decodeMessage(NOTE, { kind: 99 }, 'n'), {
    message: /invalid value 99 for enum grafeas.v1.NoteKind/,
  });
  t.throws(() => decodeMessage(NOTE, { kind: 'build' }, 'n'), { message: /invalid value "build"/ });
  t.throws(() => decodeMessage(NOTE, { shortDescription: 1 }, 'n'), {
    message: /n\.shortDescription: expected a string/,
  });
  t.equal(
    decodeMessage(NOTE, { expirationTime: '2030-01-01T01:00:00+01:00' }, 'n').expirationTime,
    '2030-01-01T00:00:00Z',
  );
});

t.test('maps, Struct and Value', async (t) => {
  const provenance = (p: unknown) =>
    (
      decodeMessage(OCCURRENCE, { build: { inTotoSlsaProvenanceV1: p } }, 'o').build as {
        inTotoSlsaProvenanceV1: unknown;
      }
    ).inTotoSlsaProvenanceV1;
  const annotations = { a: null, b: [1, 'x', { c: true }], __proto__x: 1 };
  t.same(
    provenance({
      subject: [{ name: 'r/x', digest: { sha256: 'ab' } }],
      predicate: {
        buildDefinition: {
          externalParameters: { nested: { deep: [1, 2] } },
          resolvedDependencies: [{ annotations }],
        },
      },
    }),
    {
      subject: [{ name: 'r/x', digest: { sha256: 'ab' } }],
      predicate: {
        buildDefinition: {
          externalParameters: { nested: { deep: [1, 2] } },
          resolvedDependencies: [{ annotations }],
        },
      },
    },
  );
  t.throws(() => provenance({ subject: [{ digest: { sha256: 1 } }] }), {
    message: /subject\[0\]\.digest\["sha256"\]: expected a string/,
  });
  t.throws(() => provenance({ subject: [{ digest: { sha256: null } }] }), {
    message: /map values cannot be null/,
  });
  t.throws(() => provenance({ predicate: { buildDefinition: { externalParameters: [] } } }), {
    message: /externalParameters: expected a JSON object \(google.protobuf.Struct\)/,
  });
  const hostile = JSON.parse('{"subject":[{"digest":{"__proto__":"x"}}]}');
  const decoded = provenance(hostile) as { subject: { digest: Record<string, string> }[] };
  t.equal(
    Object.getPrototypeOf(decoded.subject[0]!.digest),
    Object.prototype,
    'a "__proto__" key stays data',
  );
  t.same(Object.keys(decoded.subject[0]!.digest), ['__proto__']);
});

t.test('oneofs hold one member; members this store does not keep are UNIMPLEMENTED', async (t) => {
  t.throws(() => decodeMessage(NOTE, { vulnerability: {} }, 'n'), {
    status: 'UNIMPLEMENTED',
    httpStatus: 501,
    message: /n\.vulnerability is not supported by this store/,
  });
  t.same(decodeMessage(NOTE, { vulnerability: null, build: { builderVersion: '1' } }, 'n'), {
    build: { builderVersion: '1' },
  });
  t.throws(() => decodeMessage(OCCURRENCE, { build: { provenance: {} } }, 'o'), {
    status: 'UNIMPLEMENTED',
    message: /o\.build\.provenance is not supported/,
  });
});
