import type { Logger } from 'pino';
import type { RunOptions } from '../config/options.js';
import type { Signer } from '../signing/envelope.js';
import { createEphemeralSigner, loadKeySigner } from '../signing/key-signer.js';

/** The key statements and journal anchors are signed with: `--signing-key`, else an ephemeral one (said loudly). */
export async function openSigner(options: RunOptions, logger: Logger): Promise<Signer> {
  if (options.signingKey) {
    return loadKeySigner(options.signingKey, options.signingKeyId ? { keyid: options.signingKeyId } : {});
  }
  const signer = createEphemeralSigner(options.signingKeyId ? { keyid: options.signingKeyId } : {});
  logger.warn(
    { keyid: signer.keyid },
    'no --signing-key: provenance is signed with an ephemeral key that proves nothing beyond this pod (its public key is served at /v1/public-key)',
  );
  return signer;
}
