import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../support/run-command.js';
import { makeTempDir, removeTempDir } from '../../support/temp-dir.js';
import type { StoredEnvelope } from './store-reader.js';

export type KeyKind = 'ecdsa' | 'ed25519';

/**
 * DSSE's pre-authentication encoding, built here by hand from the envelope's fields (not with
 * src/signing/pae.ts), so the check below owes nothing to the product:
 * `DSSEv1 SP len(type) SP type SP len(body) SP body`, lengths in bytes.
 */
export function paeByHand(payloadType: string, body: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
}

/**
 * Verifies the envelope's first signature over PAE with the openssl CLI alone (issue 4 item 10):
 * `dgst -sha256 -verify` for ECDSA P-256 (DER signatures), `pkeyutl -verify -rawin` for Ed25519.
 */
export async function opensslVerifiesEnvelope(
  kind: KeyKind,
  publicKeyPath: string,
  envelope: StoredEnvelope,
  payload: Buffer = Buffer.from(envelope.payload, 'base64'),
): Promise<{ ok: boolean; output: string }> {
  const signature = envelope.signatures[0];
  if (signature === undefined) return { ok: false, output: 'the envelope has no signature' };
  const dir = (await makeTempDir('e2e-openssl')).path;
  try {
    const paePath = join(dir, 'pae.bin');
    const sigPath = join(dir, 'sig.bin');
    await writeFile(paePath, paeByHand(envelope.payloadType, payload));
    await writeFile(sigPath, Buffer.from(signature.sig, 'base64'));
    const args =
      kind === 'ecdsa'
        ? ['dgst', '-sha256', '-verify', publicKeyPath, '-signature', sigPath, paePath]
        : [
            'pkeyutl',
            '-verify',
            '-pubin',
            '-inkey',
            publicKeyPath,
            '-rawin',
            '-in',
            paePath,
            '-sigfile',
            sigPath,
          ];
    const run = await runCommand('openssl', args, { timeoutMs: 30_000 });
    return { ok: run.code === 0, output: `${run.stdout}${run.stderr}`.trim() };
  } finally {
    await removeTempDir(dir);
  }
}
