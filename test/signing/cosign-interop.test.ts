import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/provenance/statement-types.js';
import { loadKeySigner } from '../../src/signing/key-signer.js';
import { makeTempDirSync } from '../support/temp-dir.js';
import { requireTool } from '../support/tools.js';
import { statementFixture } from '../verify/statement-fixture.js';
import { ecdsaKeyFiles, ed25519KeyFiles } from './keys.js';

// A required test dependency (scripts/install-test-deps.sh builds it): absent is a failure, not a skip.
const cosign = requireTool('cosign');

t.test('cosign verify-blob-attestation accepts our envelopes', async (t) => {
  const home = makeTempDirSync('cosign-home');
  // Offline: a scratch HOME for cosign's caches, and SIGSTORE_REKOR_PUBLIC_KEY set so cosign does not
  // fetch Sigstore's trusted root over the network (the tlog is ignored, so the key is never used).
  const run = (args: string[], rekorKey: string) =>
    spawnSync(cosign, args, {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, HOME: home, TUF_ROOT: join(home, 'tuf'), SIGSTORE_REKOR_PUBLIC_KEY: rekorKey },
    });

  for (const [kind, keys] of [
    ['ecdsa', ecdsaKeyFiles()],
    ['ed25519', ed25519KeyFiles()],
  ] as const) {
    t.teardown(keys.cleanup);
    const { statement, blob } = statementFixture();
    const blobPath = join(keys.dir, 'manifest.json');
    writeFileSync(blobPath, blob);
    const signer = await loadKeySigner(keys.privatePath);
    const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement, null, 2)));
    const envelopePath = join(keys.dir, 'envelope.json');
    writeFileSync(envelopePath, JSON.stringify(envelope));
    const verifyArgs = (signature: string, key: string, artifact: string) => [
      'verify-blob-attestation',
      '--key',
      key,
      '--signature',
      signature,
      '--type',
      'slsaprovenance1',
      '--insecure-ignore-tlog=true',
      artifact,
    ];

    const good = run(verifyArgs(envelopePath, keys.publicPath, blobPath), keys.publicPath);
    t.equal(good.status, 0, `${kind}: cosign accepts: ${good.stderr.trim()}`);
    t.match(good.stderr, /Verified OK/);
    t.notMatch(good.stderr, /TUF/, 'cosign stayed offline');

    const tamperedPath = join(keys.dir, 'tampered.json');
    const tamperedPayload = Buffer.from(
      Buffer.from(envelope.payload, 'base64').toString().replace('"v1"', '"v2"'),
    );
    writeFileSync(tamperedPath, JSON.stringify({ ...envelope, payload: tamperedPayload.toString('base64') }));
    const tampered = run(verifyArgs(tamperedPath, keys.publicPath, blobPath), keys.publicPath);
    t.not(tampered.status, 0, `${kind}: cosign refuses a tampered payload`);
    t.match(tampered.stderr, /accepted signatures do not match threshold/);

    const otherBlob = join(keys.dir, 'other.json');
    writeFileSync(otherBlob, 'another artifact');
    const notSubject = run(verifyArgs(envelopePath, keys.publicPath, otherBlob), keys.publicPath);
    t.not(notSubject.status, 0, `${kind}: cosign refuses a blob that is not a subject`);
    t.match(notSubject.stderr, /no matching subject digest/);
  }
});
