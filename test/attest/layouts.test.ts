// The two attestation layouts are pure: the same envelope always gives the same bytes (whatever
// order its members come in, as after a round trip through the outbox's canonical JSON), and a
// registry's referrers answer is read without trusting its shape.
import { createHash } from 'node:crypto';
import t from 'tap';
import { envelopeLayer } from '../../src/attest/attestation-layout.js';
import {
  EMPTY_CONFIG,
  referrerArtifact,
  referrerDigests,
  SIGSTORE_BUNDLE_MEDIA_TYPE,
} from '../../src/attest/referrer-layout.js';
import type { DsseEnvelope } from '../../src/signing/envelope.js';

const envelope: DsseEnvelope = {
  payloadType: 'application/vnd.in-toto+json',
  payload: Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}').toString('base64'),
  signatures: [{ keyid: 'key-1', sig: 'c2lnbmF0dXJl' }],
};
/** The same envelope as the journal's canonical JSON gives it back: members sorted. */
const sorted = JSON.parse(
  JSON.stringify({
    payload: envelope.payload,
    payloadType: envelope.payloadType,
    signatures: [{ keyid: 'key-1', sig: 'c2lnbmF0dXJl' }],
  }),
) as DsseEnvelope;
const subject = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${'a'.repeat(64)}`,
  size: 1234,
};
const INDEX = 'application/vnd.oci.image.index.v1+json';

t.test('the .att layer does not depend on the order of the envelope members', async (t) => {
  t.equal(envelopeLayer(sorted).digest, envelopeLayer(envelope).digest);
  t.same(JSON.parse(envelopeLayer(envelope).bytes.toString()), envelope, 'and holds the envelope');
});

t.test('the referrer: deterministic, the subject as given, a bundle cosign reads', async (t) => {
  const artifact = referrerArtifact(subject, envelope, 'https://slsa.dev/provenance/v1');
  t.equal(
    referrerArtifact(subject, sorted, 'https://slsa.dev/provenance/v1').manifestDigest,
    artifact.manifestDigest,
    'the same envelope gives the same manifest, so the index check finds it again',
  );
  t.equal(artifact.manifestDigest, `sha256:${createHash('sha256').update(artifact.manifest).digest('hex')}`);
  const manifest = JSON.parse(artifact.manifest.toString()) as Record<string, unknown>;
  t.equal(manifest.artifactType, SIGSTORE_BUNDLE_MEDIA_TYPE);
  t.same(manifest.subject, subject);
  t.same(manifest.config, { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: 2 });
  t.equal(EMPTY_CONFIG.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  t.notMatch(artifact.manifest.toString(), 'org.opencontainers.image.created', 'no time in it');
  const bundle = JSON.parse(artifact.bundle.bytes.toString()) as {
    mediaType: string;
    verificationMaterial: { publicKey: { hint: string } };
    dsseEnvelope: DsseEnvelope;
  };
  t.equal(bundle.mediaType, SIGSTORE_BUNDLE_MEDIA_TYPE);
  t.equal(bundle.verificationMaterial.publicKey.hint, 'key-1', 'the key is named in the hint');
  t.same(
    bundle.dsseEnvelope,
    { ...envelope, signatures: [{ sig: 'c2lnbmF0dXJl', keyid: '' }] },
    'the signed parts unchanged; the unsigned keyid left empty, as sigstore-go wants it',
  );
  const other = referrerArtifact({ ...subject, size: 1235 }, envelope, 'https://slsa.dev/provenance/v1');
  t.not(other.manifestDigest, artifact.manifestDigest, 'another subject, another referrer');
});

t.test('a referrers answer is an OCI index listing digests, or it is no referrers API', async (t) => {
  const index = (body: unknown) => Buffer.from(JSON.stringify(body));
  const d = `sha256:${'b'.repeat(64)}`;
  t.same(referrerDigests(INDEX, index({ schemaVersion: 2, manifests: [{ digest: d }] })), [d]);
  t.same(referrerDigests(`${INDEX}; charset=utf-8`, index({ manifests: [] })), []);
  t.same(
    referrerDigests(INDEX, index({ manifests: [{ digest: 7 }, null, 'x', { digest: d }] })),
    [d],
    'entries without a string digest are ignored',
  );
  t.equal(referrerDigests(undefined, index({ manifests: [] })), null, 'no content type');
  t.equal(referrerDigests('text/html', Buffer.from('<html>not found</html>')), null, 'an HTML page');
  t.equal(
    referrerDigests('application/json', index({ errors: [{ code: 'NAME_UNKNOWN' }] })),
    null,
    "distribution's error body",
  );
  t.equal(referrerDigests(INDEX, Buffer.from('{"manifests":[')), null, 'cut-off JSON');
  t.equal(referrerDigests(INDEX, index({ manifests: {} })), null, 'manifests not a list');
  t.equal(referrerDigests(INDEX, index(null)), null, 'null');
});
