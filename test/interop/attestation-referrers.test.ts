// --attach-attestations, OCI 1.1 form: where the registry's referrers API answers, the proxy also
// stores the statement as a referrer (a Sigstore bundle v0.3 whose manifest's subject is the image),
// the form cosign v2 looks for first. The registry is go-containerregistry's with referrers on
// (test/tools/referrers-registry, built by scripts/install-test-deps.sh); Debian's distribution 2.8
// has none, and there the step is skipped and recorded (attestations.test.ts).
import { createHash, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { attestationTag } from '../../src/attest/attestation-layout.js';
import { type AttachedAttestation, AttestationSink } from '../../src/attest/attestation-sink.js';
import { OwnClient } from '../../src/broker/own-client.js';
import { verifyEnvelope } from '../../src/signing/dsse.js';
import type { DsseEnvelope } from '../../src/signing/envelope.js';
import { pushedDigest, startAttestingProxy } from '../support/attesting-proxy.js';
import { cosignVerifyAttestation } from '../support/cosign.js';
import { startLab } from '../support/lab.js';
import { startReferrersRegistry } from '../support/referrers-registry.js';
import { waitUntil } from '../support/wait-until.js';

const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

const lab = await startLab({
  name: 'attestation-referrers',
  teardown: (fn) => t.teardown(fn),
  registries: ['open'],
  withProxy: false,
});
const registry = await startReferrersRegistry({ dir: join(lab.dir, 'referrers-registry'), ca: lab.ca });
t.teardown(() => registry.stop());
const { proxy, clients, publicKeyPem, attached } = await startAttestingProxy(lab, (fn) => t.teardown(fn));
const direct = registry.directClient();
const digestOf = pushedDigest;

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
}

async function referrersOf(repository: string, digest: string): Promise<Descriptor[]> {
  const response = await direct.request({
    path: `/v2/${repository}/referrers/${digest}`,
    headers: { accept: INDEX_MEDIA_TYPE },
  });
  if (response.status !== 200) throw new Error(`referrers of ${repository}@${digest}: ${response.status}`);
  return (JSON.parse(response.body.toString()) as { manifests: Descriptor[] }).manifests;
}

/** Waits for the first referrer the proxy stores (the image is pushed before its attestation). */
function firstReferrers(repository: string, digest: string): Promise<Descriptor[]> {
  return waitUntil(
    async () => {
      const listed = await referrersOf(repository, digest);
      return listed.length > 0 ? listed : undefined;
    },
    { what: `a referrer of ${repository}@${digest}`, attempts: 150, intervalMs: 200 },
  );
}

async function manifest(repository: string, reference: string, accept: string) {
  const response = await direct.request({
    path: `/v2/${repository}/manifests/${reference}`,
    headers: { accept },
  });
  if (response.status !== 200) throw new Error(`${repository}:${reference}: ${response.status}`);
  return { bytes: response.body, json: JSON.parse(response.body.toString()) as Record<string, unknown> };
}

async function blob(t: Test, repository: string, digest: string): Promise<Buffer> {
  const response = await direct.request({ path: `/v2/${repository}/blobs/${digest}` });
  t.equal(sha256(response.body), digest, 'the blob is what it says');
  return response.body;
}

interface ReferrerManifest {
  artifactType: string;
  config: Descriptor;
  layers: Descriptor[];
  subject: Descriptor;
  annotations: Record<string, string>;
}

async function checkReferrer(t: Test, repository: string, digest: string) {
  const listed = await firstReferrers(repository, digest);
  t.equal(listed.length, 1, 'exactly one referrer');
  const referrer = (await manifest(repository, listed[0]!.digest, MANIFEST_MEDIA_TYPE))
    .json as unknown as ReferrerManifest;
  t.equal(referrer.artifactType, BUNDLE_MEDIA_TYPE, 'artifactType: the Sigstore bundle');
  t.equal(referrer.config.mediaType, 'application/vnd.oci.empty.v1+json');
  t.equal(referrer.annotations['dev.sigstore.bundle.predicateType'], 'https://slsa.dev/provenance/v1');
  const image = await direct.request({
    path: `/v2/${repository}/manifests/${digest}`,
    headers: { accept: `${MANIFEST_MEDIA_TYPE}, ${INDEX_MEDIA_TYPE}` },
  });
  t.same(
    referrer.subject,
    { mediaType: image.headers['content-type'], digest, size: image.body.length },
    'the subject is the image manifest, as the registry serves it',
  );
  t.equal(referrer.layers.length, 1);
  t.equal(referrer.layers[0]!.mediaType, BUNDLE_MEDIA_TYPE);
  const bundle = JSON.parse((await blob(t, repository, referrer.layers[0]!.digest)).toString()) as {
    mediaType: string;
    dsseEnvelope: DsseEnvelope;
  };
  t.equal(bundle.mediaType, BUNDLE_MEDIA_TYPE);
  t.ok(verifyEnvelope(bundle.dsseEnvelope, [publicKeyPem]).ok, "the bundle's envelope verifies with our key");
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString()) as {
    subject: { digest: { sha256: string } }[];
  };
  t.same(
    statement.subject.map((s) => `sha256:${s.digest.sha256}`),
    [digest],
    'the statement is about exactly this image',
  );
  // The legacy tag holds the same envelope: one statement, two places.
  const att = (await manifest(repository, attestationTag(digest), MANIFEST_MEDIA_TYPE)).json as {
    layers: Descriptor[];
  };
  t.equal(att.layers.length, 1, 'the legacy .att tag is there too');
  const legacy = JSON.parse((await blob(t, repository, att.layers[0]!.digest)).toString()) as DsseEnvelope;
  t.equal(legacy.payload, bundle.dsseEnvelope.payload, 'the same statement in both forms');
  // The envelope as signed (the bundle's copy drops the unsigned keyid): what a re-delivery carries.
  return { referrerDigest: listed[0]!.digest, envelope: legacy };
}

let single = { digest: '', referrerDigest: '', envelope: null as DsseEnvelope | null };

t.test('a pushed image gets a Sigstore-bundle referrer beside its .att tag', async (t) => {
  const digest = digestOf(
    await clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${registry.host}/ref/single:v1`),
  );
  const found = await checkReferrer(t, 'ref/single', digest);
  single = { digest, ...found };
});

t.test('cosign verify-attestation reads the referrer and verifies it; another key is refused', async (t) => {
  const reference = `${registry.host}/ref/single@${single.digest}`;
  // --new-bundle-format: cosign reads bundles from the referrers API only, never the .att tag.
  const fromReferrer = await cosignVerifyAttestation(lab.directClients, lab.dir, publicKeyPem, reference, [
    '--new-bundle-format',
  ]);
  t.equal(fromReferrer.code, 0, `cosign accepts the referrer: ${fromReferrer.stderr}`);
  // Without the flag cosign finds the bundle itself and prefers it (what a default verifier does).
  const byDefault = await cosignVerifyAttestation(lab.directClients, lab.dir, publicKeyPem, reference);
  t.equal(byDefault.code, 0, `cosign accepts it by default: ${byDefault.stderr}`);
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  const refused = await cosignVerifyAttestation(lab.directClients, lab.dir, other, reference, [
    '--new-bundle-format',
  ]);
  t.not(refused.code, 0, 'cosign refuses it with another key');
});

t.test(
  'a multi-arch index: the index and each child get their own referrer, cosign verifies each',
  async (t) => {
    const digest = digestOf(
      await clients.skopeoCopy(lab.fixtures.ref('index'), `docker://${registry.host}/ref/index:v1`, {
        all: true,
      }),
    );
    const children = (
      (await manifest('ref/index', digest, INDEX_MEDIA_TYPE)).json as unknown as { manifests: Descriptor[] }
    ).manifests;
    t.equal(children.length, 2);
    for (const subject of [digest, ...children.map((child) => child.digest)]) {
      await checkReferrer(t, 'ref/index', subject);
      const result = await cosignVerifyAttestation(
        lab.directClients,
        lab.dir,
        publicKeyPem,
        `${registry.host}/ref/index@${subject}`,
        ['--new-bundle-format'],
      );
      t.equal(result.code, 0, `cosign accepts the referrer of ${subject}`);
    }
  },
);

t.test('recorded in the journal, and never the build output', async (t) => {
  const entries = await waitUntil(
    async () => {
      const found = await attached('ref/single');
      return found.length > 0 ? found : undefined;
    },
    { what: 'the attachment of ref/single in the journal', attempts: 100, intervalMs: 100 },
  );
  t.equal(entries.length, 1, 'journaled once');
  t.same(entries[0]!.referrer, {
    outcome: 'attached',
    manifestDigest: single.referrerDigest,
    artifactType: BUNDLE_MEDIA_TYPE,
  });
  const recorded = JSON.stringify(await proxy.images());
  t.notMatch(recorded, single.referrerDigest, 'the referrer is not among the recorded images');
  t.notMatch(recorded, '.att', 'nor the .att tag');
});

t.test('re-attaching the same statement adds nothing; another envelope adds one referrer', async (t) => {
  const client = new OwnClient([lab.ca.caCertPem]);
  t.teardown(() => client.close());
  const recorded: AttachedAttestation[] = [];
  const sink = new AttestationSink(client, null, async (a) => {
    recorded.push(a);
  });
  const envelope = single.envelope;
  if (envelope === null) throw new Error('the first test found no envelope');
  const report = {
    reportId: 'again',
    kind: 'image' as const,
    statement: JSON.parse(Buffer.from(envelope.payload, 'base64').toString()),
    envelope,
    image: { registry: registry.host, repository: 'ref/single', digest: single.digest },
  };
  await sink.deliver(report);
  t.same(
    recorded[0]?.referrer,
    { outcome: 'already-present', manifestDigest: single.referrerDigest, artifactType: BUNDLE_MEDIA_TYPE },
    'the referrers index already lists this manifest: nothing written',
  );
  t.same(
    (await referrersOf('ref/single', single.digest)).map((d) => d.digest),
    [single.referrerDigest],
    'still exactly one referrer',
  );
  await sink.deliver({ ...report, envelope: { ...envelope, signatures: [] } });
  t.equal(recorded[1]?.referrer.outcome, 'attached');
  t.equal(
    (await referrersOf('ref/single', single.digest)).length,
    2,
    'a different envelope is a second referrer',
  );
});

t.test(
  "Debian's registry has no referrers API: the .att lands, the referrer is skipped and says so",
  async (t) => {
    const open = lab.registry('open');
    const digest = digestOf(
      await clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${open.host}/ref/legacy:v1`),
    );
    const entry = await waitUntil(async () => (await attached('ref/legacy'))[0], {
      what: 'the attachment of ref/legacy',
      attempts: 150,
      intervalMs: 200,
    });
    t.same(entry.referrer, { outcome: 'referrers-api-absent', status: 404 });
    t.equal(entry.subject, digest);
    const att = await open.directClient().request({
      path: `/v2/ref/legacy/manifests/${attestationTag(digest)}`,
      headers: { accept: MANIFEST_MEDIA_TYPE },
    });
    t.equal(att.status, 200, 'the legacy .att is stored');
    const cosign = await cosignVerifyAttestation(
      lab.directClients,
      lab.dir,
      publicKeyPem,
      `${open.host}/ref/legacy@${digest}`,
    );
    t.equal(cosign.code, 0, 'and cosign verifies it from there');
  },
);
