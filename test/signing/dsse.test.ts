import { generateKeyPairSync, sign } from 'node:crypto';
import t from 'tap';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/provenance/statement-types.js';
import { verifyEnvelope } from '../../src/signing/dsse.js';
import type { DsseEnvelope } from '../../src/signing/envelope.js';
import { KeySigner } from '../../src/signing/key-signer.js';
import { preAuthEncoding } from '../../src/signing/pae.js';
import { keyFingerprint, parsePublicKeyPem } from '../../src/signing/public-key.js';
import { statementFixture } from '../verify/statement-fixture.js';

function signerOf(kind: 'ecdsa' | 'ed25519'): { signer: KeySigner; publicPem: string } {
  const { privateKey, publicKey } =
    kind === 'ecdsa'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('ed25519');
  return {
    signer: KeySigner.fromPrivateKey(privateKey),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const statementBytes = (): Buffer => Buffer.from(JSON.stringify(statementFixture().statement));

for (const kind of ['ecdsa', 'ed25519'] as const) {
  t.test(`${kind}: sign then verify returns the exact payload and the key that verified`, async (t) => {
    const { signer, publicPem } = signerOf(kind);
    const payload = statementBytes();
    const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, payload);
    const result = verifyEnvelope(JSON.parse(JSON.stringify(envelope)), [publicPem]);
    t.equal(result.ok, true);
    if (!result.ok) return;
    t.same(result.payload, payload);
    t.equal(result.payloadType, IN_TOTO_PAYLOAD_TYPE);
    t.equal(result.keyid, signer.keyid);
    t.equal(result.key.fingerprint, signer.keyid, 'default keyid is the fingerprint of the verifying key');
    t.equal(result.key.algorithm, kind === 'ecdsa' ? 'ecdsa-p256' : 'ed25519');
  });

  t.test(`${kind}: a different key is refused`, async (t) => {
    const { signer } = signerOf(kind);
    const other = signerOf(kind);
    const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, statementBytes());
    const result = verifyEnvelope(envelope, [other.publicPem]);
    t.match(result, { ok: false, reason: 'no_matching_key' });
  });

  t.test(`${kind}: a tampered payload is refused`, async (t) => {
    const { signer, publicPem } = signerOf(kind);
    const payload = statementBytes();
    const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, payload);
    const tampered = Buffer.from(
      payload.toString('utf8').replace('registry.test:5000', 'registry.evil:5000'),
    );
    t.not(tampered.toString(), payload.toString());
    const result = verifyEnvelope({ ...envelope, payload: tampered.toString('base64') }, [publicPem]);
    t.match(result, { ok: false, reason: 'no_matching_key' });
  });

  t.test(`${kind}: a changed payloadType is refused (PAE binds the type)`, async (t) => {
    const { signer, publicPem } = signerOf(kind);
    const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, statementBytes());
    const result = verifyEnvelope({ ...envelope, payloadType: 'application/json' }, [publicPem]);
    t.match(result, { ok: false, reason: 'no_matching_key' });
  });
}

t.test(
  'a payload with non-canonical whitespace verifies because the received bytes are verified',
  async (t) => {
    const { signer, publicPem } = signerOf('ecdsa');
    const { statement } = statementFixture();
    // Indented, with a trailing newline and keys in a non-sorted order: re-serialising would change all of it.
    const payload = Buffer.from(`${JSON.stringify(statement, null, 3)}\n\n`);
    t.not(
      JSON.stringify(JSON.parse(payload.toString())),
      payload.toString(),
      'reserialising changes the bytes',
    );
    const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, payload);
    const result = verifyEnvelope(envelope, [publicPem]);
    t.equal(result.ok, true);
    if (result.ok) t.same(result.payload, payload);
    // And a verifier that re-serialised would fail: show that the signature does not cover compact JSON.
    const compact = Buffer.from(JSON.stringify(statement));
    const reserialised = verifyEnvelope({ ...envelope, payload: compact.toString('base64') }, [publicPem]);
    t.equal(reserialised.ok, false);
  },
);

t.test(
  'with several trusted keys, reports which one verified; a wrong keyid hint does not matter',
  async (t) => {
    const a = signerOf('ecdsa');
    const b = signerOf('ed25519');
    const envelope = await b.signer.sign(IN_TOTO_PAYLOAD_TYPE, statementBytes());
    const relabelled: DsseEnvelope = {
      ...envelope,
      signatures: [{ keyid: 'something-else', sig: envelope.signatures[0]!.sig }],
    };
    const result = verifyEnvelope(relabelled, [a.publicPem, parsePublicKeyPem(b.publicPem, 'b.pem')]);
    t.equal(result.ok, true);
    if (!result.ok) return;
    t.equal(result.key.label, 'b.pem');
    t.equal(result.key.fingerprint, keyFingerprint(parsePublicKeyPem(b.publicPem).keyObject));
    t.equal(result.key.fingerprint, b.signer.keyid);
    t.equal(result.keyid, 'something-else');
  },
);

t.test('any one of several signatures may verify', async (t) => {
  const a = signerOf('ecdsa');
  const b = signerOf('ed25519');
  const payload = statementBytes();
  const ea = await a.signer.sign(IN_TOTO_PAYLOAD_TYPE, payload);
  const eb = await b.signer.sign(IN_TOTO_PAYLOAD_TYPE, payload);
  const both: DsseEnvelope = { ...ea, signatures: [...ea.signatures, ...eb.signatures] };
  const result = verifyEnvelope(both, [b.publicPem]);
  t.match(result, { ok: true, signatureIndex: 1, keyid: b.signer.keyid });
});

t.test('URL-safe, unpadded base64 is accepted as DSSE allows', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // Pick a payload whose base64 uses the URL-unsafe characters.
  const payload = Buffer.from([0xfb, 0xff, 0xfe, 0x7b, 0x7d]);
  const sig = sign(null, preAuthEncoding('t', payload), privateKey);
  const envelope = {
    payloadType: 't',
    payload: payload.toString('base64url'),
    signatures: [{ keyid: '', sig: sig.toString('base64url') }],
  };
  t.match(payload.toString('base64url'), /[-_]/);
  const result = verifyEnvelope(envelope, [publicKey.export({ type: 'spki', format: 'pem' }).toString()]);
  t.equal(result.ok, true);
});

t.test('malformed envelopes are refused with a reason, never a throw', async (t) => {
  const { signer, publicPem } = signerOf('ecdsa');
  const good = await signer.sign(IN_TOTO_PAYLOAD_TYPE, statementBytes());
  const cases: [string, unknown, string][] = [
    ['not an object', 'text', 'malformed_envelope'],
    ['array', [good], 'malformed_envelope'],
    ['no payloadType', { ...good, payloadType: undefined }, 'malformed_envelope'],
    ['payload not base64', { ...good, payload: `${good.payload}!` }, 'malformed_envelope'],
    ['payload with whitespace', { ...good, payload: ` ${good.payload}` }, 'malformed_envelope'],
    ['signatures not an array', { ...good, signatures: {} }, 'malformed_envelope'],
    ['sig not base64', { ...good, signatures: [{ keyid: '', sig: '***' }] }, 'malformed_envelope'],
    [
      'keyid not a string',
      { ...good, signatures: [{ keyid: 7, sig: good.signatures[0]!.sig }] },
      'malformed_envelope',
    ],
    ['no signatures', { ...good, signatures: [] }, 'no_signatures'],
    ['signature is garbage bytes', { ...good, signatures: [{ keyid: '', sig: 'AAAA' }] }, 'no_matching_key'],
  ];
  for (const [name, envelope, reason] of cases) {
    const result = verifyEnvelope(envelope, [publicPem]);
    t.match(result, { ok: false, reason }, name);
  }
});

t.test('private keys and unsupported keys are refused as trusted keys', async (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  t.throws(() => parsePublicKeyPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), {
    code: 'ERR_PUBLIC_KEY_INVALID',
  });
  t.throws(() => parsePublicKeyPem(rsa.export({ type: 'spki', format: 'pem' }).toString(), 'rsa.pem'), {
    code: 'ERR_PUBLIC_KEY_UNSUPPORTED',
    message: /rsa\.pem.*rsa 2048 bits/,
  });
  t.throws(() => parsePublicKeyPem('nope'), { code: 'ERR_PUBLIC_KEY_INVALID' });
});
