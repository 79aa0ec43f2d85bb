import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/provenance/statement-types.js';
import { verifyEnvelope } from '../../src/signing/dsse.js';
import type { DsseEnvelope } from '../../src/signing/envelope.js';
import { loadKeySigner } from '../../src/signing/key-signer.js';
import { statementFixture } from '../verify/statement-fixture.js';
import { type KeyFiles, opensslKeyFiles } from './keys.js';

/**
 * Issue 4 item 10: the signature is checked by the openssl CLI, without our code. PAE is rebuilt here
 * from the envelope's fields by hand, not with src/signing/pae.ts.
 */
function paeByHand(envelope: DsseEnvelope): Buffer {
  const body = Buffer.from(envelope.payload, 'base64');
  const type = Buffer.from(envelope.payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${envelope.payloadType} ${body.length} `), body]);
}

function opensslVerify(
  kind: 'ecdsa' | 'ed25519',
  keys: KeyFiles,
  pae: Buffer,
  sig: Buffer,
): { ok: boolean; out: string } {
  const paePath = join(keys.dir, 'pae.bin');
  const sigPath = join(keys.dir, 'sig.bin');
  writeFileSync(paePath, pae);
  writeFileSync(sigPath, sig);
  const args =
    kind === 'ecdsa'
      ? ['dgst', '-sha256', '-verify', keys.publicPath, '-signature', sigPath, paePath]
      : [
          'pkeyutl',
          '-verify',
          '-pubin',
          '-inkey',
          keys.publicPath,
          '-rawin',
          '-in',
          paePath,
          '-sigfile',
          sigPath,
        ];
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  return { ok: run.status === 0, out: `${run.stdout}${run.stderr}`.trim() };
}

function opensslSign(kind: 'ecdsa' | 'ed25519', keys: KeyFiles, pae: Buffer): Buffer {
  const paePath = join(keys.dir, 'pae-to-sign.bin');
  const sigPath = join(keys.dir, 'openssl-sig.bin');
  writeFileSync(paePath, pae);
  const args =
    kind === 'ecdsa'
      ? ['dgst', '-sha256', '-sign', keys.privatePath, '-out', sigPath, paePath]
      : ['pkeyutl', '-sign', '-inkey', keys.privatePath, '-rawin', '-in', paePath, '-out', sigPath];
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl sign failed: ${run.stderr}`);
  return readFileSync(sigPath);
}

for (const kind of ['ecdsa', 'ed25519'] as const) {
  t.test(
    `${kind}: openssl verifies our envelope signature over PAE, and refuses it when tampered`,
    async (t) => {
      const keys = opensslKeyFiles(kind);
      t.teardown(keys.cleanup);
      const signer = await loadKeySigner(keys.privatePath);
      const payload = Buffer.from(JSON.stringify(statementFixture().statement, null, 2));
      const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, payload);
      const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');

      const good = opensslVerify(kind, keys, paeByHand(envelope), sig);
      t.ok(good.ok, `openssl accepts: ${good.out}`);
      t.match(good.out, /Verified Successfully|Verified OK/);

      const tamperedPayload = Buffer.from(payload.toString().replace('"v1"', '"v2"'));
      const tampered = opensslVerify(
        kind,
        keys,
        paeByHand({ ...envelope, payload: tamperedPayload.toString('base64') }),
        sig,
      );
      t.notOk(tampered.ok, 'openssl refuses a tampered payload');

      const flipped = Buffer.from(sig);
      flipped[flipped.length - 1]! ^= 0x01;
      t.notOk(
        opensslVerify(kind, keys, paeByHand(envelope), flipped).ok,
        'openssl refuses a changed signature',
      );
    },
  );

  t.test(`${kind}: our verifier accepts an envelope signed by openssl, and only with its key`, async (t) => {
    const keys = opensslKeyFiles(kind);
    t.teardown(keys.cleanup);
    const other = opensslKeyFiles(kind);
    t.teardown(other.cleanup);
    const payload = Buffer.from(JSON.stringify(statementFixture().statement));
    const unsigned: DsseEnvelope = {
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      payload: payload.toString('base64'),
      signatures: [],
    };
    const sig = opensslSign(kind, keys, paeByHand(unsigned));
    const envelope: DsseEnvelope = { ...unsigned, signatures: [{ keyid: '', sig: sig.toString('base64') }] };
    const result = verifyEnvelope(envelope, [keys.publicPem]);
    t.equal(result.ok, true);
    if (result.ok) t.same(result.payload, payload);
    t.match(verifyEnvelope(envelope, [other.publicPem]), { ok: false, reason: 'no_matching_key' });
  });
}
