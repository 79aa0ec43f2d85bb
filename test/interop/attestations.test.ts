// --attach-attestations: after an acknowledged push the proxy's own client stores the signed
// per-image statement under cosign's legacy tag sha256-<hex>.att (layers are DSSE envelopes with a
// predicateType annotation). Checked against the registry's bytes, the proxy's public key, the
// record (the attestation is not the build's output), idempotence, and cosign when installed.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { attestationTag } from '../../src/attest/attestation-layout.js';
import { type AttachedAttestation, AttestationSink } from '../../src/attest/attestation-sink.js';
import { OwnClient } from '../../src/broker/own-client.js';
import { verifyEnvelope } from '../../src/signing/dsse.js';
import { pushedDigest } from '../support/attesting-proxy.js';
import { cosignVerifyAttestation } from '../support/cosign.js';
import { LAB_CREDENTIALS, startLab } from '../support/lab.js';
import { startProxy } from '../support/proxy.js';
import type { RunningRegistry } from '../support/registry.js';
import { filesBelow, filesWithSecrets, tokenForms } from '../support/secret-scan.js';
import { waitUntil } from '../support/wait-until.js';

let authFile = '';
const lab = await startLab({
  name: 'attestations',
  teardown: (fn) => t.teardown(fn),
  registries: ['open', 'token'],
  proxyArgs: (registry) => {
    authFile = join(registry('open').storageDir, '..', 'proxy-registry-auth.json');
    const auth = Buffer.from(`${LAB_CREDENTIALS.username}:${LAB_CREDENTIALS.password}`).toString('base64');
    // Written synchronously: the proxy reads it at start.
    writeFileSync(authFile, JSON.stringify({ auths: { [registry('token').host]: { auth } } }));
    return ['--attach-attestations', '--registry-auth', authFile];
  },
});
const open = lab.registry('open');
const token = lab.registry('token');
const proxy = lab.proxy();
const bare = await lab.clientsWithoutCredentials();
const publicKeyPem = (JSON.parse((await proxy.control('/v1/public-key')).body) as { publicKeyPem: string })
  .publicKeyPem;

const digestOf = pushedDigest;

interface AttManifest {
  mediaType: string;
  layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
}

async function attManifest(registry: RunningRegistry, repository: string, digest: string) {
  return waitUntil(
    async () => {
      const response = await registry.directClient().request({
        path: `/v2/${repository}/manifests/${attestationTag(digest)}`,
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      return response.status === 200 ? (JSON.parse(response.body.toString()) as AttManifest) : undefined;
    },
    { what: `the attestation of ${repository}@${digest}`, attempts: 150, intervalMs: 200 },
  );
}

async function envelopeOf(registry: RunningRegistry, repository: string, layerDigest: string) {
  const blob = await registry.directClient().request({ path: `/v2/${repository}/blobs/${layerDigest}` });
  t.equal(
    `sha256:${createHash('sha256').update(blob.body).digest('hex')}`,
    layerDigest,
    'the layer is what it says',
  );
  return JSON.parse(blob.body.toString()) as { payloadType: string; payload: string; signatures: unknown[] };
}

async function checkAttestation(t: Test, registry: RunningRegistry, repository: string, digest: string) {
  const manifest = await attManifest(registry, repository, digest);
  t.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  t.equal(manifest.layers.length, 1, 'one attestation layer');
  const layer = manifest.layers[0]!;
  t.equal(layer.mediaType, 'application/vnd.dsse.envelope.v1+json');
  t.equal(layer.annotations?.predicateType, 'https://slsa.dev/provenance/v1');
  const envelope = await envelopeOf(registry, repository, layer.digest);
  t.equal(envelope.payloadType, 'application/vnd.in-toto+json');
  t.match(envelope.payload, /^[A-Za-z0-9+/]*={0,2}$/, 'standard base64 (no URL-safe alphabet)');
  t.ok(verifyEnvelope(envelope, [publicKeyPem]).ok, "signed by the proxy's key");
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as {
    predicateType: string;
    subject: { digest: { sha256: string } }[];
  };
  t.equal(statement.predicateType, 'https://slsa.dev/provenance/v1');
  t.same(
    statement.subject.map((s) => `sha256:${s.digest.sha256}`),
    [digest],
    'the subject is exactly the image',
  );
  return manifest;
}

t.test('open registry: a pushed image gets its signed statement under sha256-<hex>.att', async (t) => {
  const digest = digestOf(
    await lab.clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${open.host}/att/single:v1`),
  );
  await checkAttestation(t, open, 'att/single', digest);
});

t.test('token registry, client without credentials: the broker authorises the attachment too', async (t) => {
  const digest = digestOf(
    await bare.skopeoCopy(lab.fixtures.ref('single'), `docker://${token.host}/att/brokered:v1`),
  );
  await checkAttestation(t, token, 'att/brokered', digest);
});

t.test('a multi-arch index: the index and each child get their own attestation', async (t) => {
  const digest = digestOf(
    await lab.clients.skopeoCopy(lab.fixtures.ref('index'), `docker://${open.host}/att/index:v1`, {
      all: true,
    }),
  );
  await checkAttestation(t, open, 'att/index', digest);
  const index = await open.directClient().request({
    path: `/v2/att/index/manifests/${digest}`,
    headers: { accept: 'application/vnd.oci.image.index.v1+json' },
  });
  const children = (JSON.parse(index.body.toString()) as { manifests: { digest: string }[] }).manifests;
  t.equal(children.length, 2);
  for (const child of children) await checkAttestation(t, open, 'att/index', child.digest);
});

t.test('the attestation is recorded and is not the build output', async (t) => {
  await lab.settle();
  const images = await proxy.images();
  t.notMatch(JSON.stringify(images), '.att', 'no .att tag among the recorded images');
  const journal = JSON.parse((await proxy.control('/v1/observations?limit=1000')).body) as {
    entries: { kind: string; data: AttachedAttestation }[];
  };
  const attached = journal.entries
    .filter((entry) => entry.kind === 'attestation.attached')
    .map((e) => e.data);
  const keys = attached.map((a) => `${a.repository}@${a.subject}`);
  t.equal(keys.length, new Set(keys).size, 'each attachment journaled once');
  t.same(
    [...new Set(attached.map((a) => a.repository))].sort(),
    ['att/brokered', 'att/index', 'att/single'],
    'each attachment is journaled',
  );
  t.equal(attached.filter((a) => a.repository === 'att/index').length, 3, 'the index and its two children');
  // Debian's docker-registry (distribution 2.8) has no referrers API: the legacy tag only, and the
  // record says why (the referrer form is tested against a registry that has one, attestation-referrers).
  t.same(
    [...new Set(attached.map((a) => JSON.stringify(a.referrer)))],
    [JSON.stringify({ outcome: 'referrers-api-absent', status: 404 })],
    'the referrer step is skipped, recorded as "referrers API absent"',
  );
});

t.test('the brokered attachment left no password or token in the proxy files', async (t) => {
  const basic = Buffer.from(`${LAB_CREDENTIALS.username}:${LAB_CREDENTIALS.password}`).toString('base64');
  const secrets = [LAB_CREDENTIALS.password, basic, ...tokenForms(lab.tokenServer?.issuedTokens ?? [])];
  t.ok((lab.tokenServer?.issuedTokens.length ?? 0) > 0, 'tokens were minted');
  t.same(await filesWithSecrets([proxy.logPath, ...(await filesBelow(proxy.dataDir))], secrets), []);
});

t.test('re-attaching the same statement adds nothing; another one is added beside it', async (t) => {
  const client = new OwnClient([lab.ca.caCertPem]);
  t.teardown(() => client.close());
  const recorded: AttachedAttestation[] = [];
  const sink = new AttestationSink(client, null, async (a) => {
    recorded.push(a);
  });
  const digest = digestOf(
    await lab.clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${open.host}/att/again:v1`),
  );
  const before = await attManifest(open, 'att/again', digest);
  const layer = before.layers[0]!;
  const envelope = await envelopeOf(open, 'att/again', layer.digest);
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
  const report = {
    reportId: 'again',
    kind: 'image' as const,
    statement,
    envelope: envelope as never,
    image: { registry: open.host, repository: 'att/again', digest: digest },
  };
  await sink.deliver(report);
  t.equal(recorded[0]?.alreadyPresent, true, 'the same envelope is found, nothing written');
  t.same(await attManifest(open, 'att/again', digest), before, 'the manifest is unchanged');
  await sink.deliver({ ...report, envelope: { ...envelope, signatures: [] } as never });
  const after = await attManifest(open, 'att/again', digest);
  t.equal(after.layers.length, 2, 'a different envelope is added, the first kept');
  t.equal(after.layers[0]?.digest, layer.digest);
});

// cosign is a required test dependency (scripts/install-test-deps.sh builds it): no skip.

/** cosign, talking to the registry directly. */
function cosignVerify(keyPem: string, reference: string) {
  return cosignVerifyAttestation(lab.directClients, lab.dir, keyPem, reference);
}

t.test('cosign verify-attestation accepts it (ECDSA P-256) and refuses another key', async (t) => {
  const digest = digestOf(
    await lab.clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${open.host}/att/cosign:v1`),
  );
  await attManifest(open, 'att/cosign', digest);
  const accepted = await cosignVerify(publicKeyPem, `${open.host}/att/cosign@${digest}`);
  t.equal(accepted.code, 0, 'cosign accepts the attestation');
  t.equal(
    (JSON.parse((await proxy.control('/v1/public-key')).body) as { algorithm: string }).algorithm,
    'ecdsa-p256',
    'signed with the default (ephemeral) ECDSA P-256 key',
  );
  t.notMatch(accepted.stderr, /tuf|sigstore\.dev/i, 'cosign stayed offline');
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    type: 'spki',
    format: 'pem',
  });
  const refused = await cosignVerify(other.toString(), `${open.host}/att/cosign@${digest}`);
  t.not(refused.code, 0, 'cosign refuses it with another key');
});

t.test('cosign verifies the index and each of its children', async (t) => {
  const index = await open.directClient().request({
    path: '/v2/att/index/manifests/v1',
    headers: { accept: 'application/vnd.oci.image.index.v1+json' },
  });
  const indexDigest = `sha256:${createHash('sha256').update(index.body).digest('hex')}`;
  const children = (JSON.parse(index.body.toString()) as { manifests: { digest: string }[] }).manifests;
  for (const digest of [indexDigest, ...children.map((child) => child.digest)]) {
    const result = await cosignVerify(publicKeyPem, `${open.host}/att/index@${digest}`);
    t.equal(result.code, 0, `cosign accepts ${digest}`);
  }
});

t.test('which key types cosign accepts: an Ed25519-signing proxy', async (t) => {
  const keys = generateKeyPairSync('ed25519');
  const keyFile = join(lab.dir, 'ed25519.pem');
  await writeFile(keyFile, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const edProxy = await startProxy({
    dir: join(lab.dir, 'ed25519-proxy'),
    upstreamCaPath: lab.ca.caCertPath,
    extraArgs: ['--attach-attestations', '--signing-key', keyFile],
  });
  t.teardown(() => edProxy.stop());
  const clients = lab.clients.withRoute({
    proxyUrl: edProxy.url,
    get trust() {
      return edProxy.trust;
    },
  });
  const digest = digestOf(
    await clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${open.host}/att/ed25519:v1`),
  );
  await attManifest(open, 'att/ed25519', digest);
  const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const result = await cosignVerify(publicPem, `${open.host}/att/ed25519@${digest}`);
  // Measured, not assumed (cosign v2.6.5): a key loaded from PEM verifies pure Ed25519 DSSE signatures.
  t.equal(result.code, 0, 'cosign accepts the Ed25519-signed attestation');
  const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  t.not(
    (await cosignVerify(other, `${open.host}/att/ed25519@${digest}`)).code,
    0,
    'and refuses another Ed25519 key',
  );
});
