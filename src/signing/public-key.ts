import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { algorithmOfKey, describeKeyType, type SigningAlgorithm } from './raw-signature.js';
import { PublicKeyError } from './signing-errors.js';

/** A public key accepted for verification, with the fingerprint used as its default keyid. */
export interface VerificationKey {
  readonly keyObject: KeyObject;
  readonly algorithm: SigningAlgorithm;
  /** `sha256:<hex of sha256 over the SPKI DER>`. */
  readonly fingerprint: string;
  /** Where the key came from (a path), for messages. */
  readonly label: string;
}

/**
 * The key's fingerprint: `sha256:<hex of sha256 over the SPKI DER>`. Reproducible without our code:
 * `openssl pkey -pubin -in pub.pem -outform DER | sha256sum`.
 */
export function keyFingerprint(publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** Parses a PEM public key (SPKI `PUBLIC KEY`, or a certificate) given to verify with. */
export function parsePublicKeyPem(pem: string | Buffer, label = 'public key'): VerificationKey {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  // A private key would parse (node derives its public half), but handing private keys to a
  // verifier is a mistake worth stopping: it means the key is being copied where it should not be.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new PublicKeyError(
      'ERR_PUBLIC_KEY_INVALID',
      `${label}: is a private key; give the public key (SPKI PEM)`,
    );
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: text, format: 'pem' });
  } catch (error) {
    throw new PublicKeyError('ERR_PUBLIC_KEY_INVALID', `${label}: not a PEM public key`, { cause: error });
  }
  const algorithm = algorithmOfKey(keyObject);
  if (algorithm === undefined) {
    throw new PublicKeyError(
      'ERR_PUBLIC_KEY_UNSUPPORTED',
      `${label}: key type ${describeKeyType(keyObject)} is not supported; use ECDSA P-256 or Ed25519`,
    );
  }
  return { keyObject, algorithm, fingerprint: keyFingerprint(keyObject), label };
}
