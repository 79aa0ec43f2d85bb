import { type KeyObject, sign, verify } from 'node:crypto';
import type { Signer } from './envelope.js';

export type SigningAlgorithm = Signer['algorithm'];

/** The curve name OpenSSL (and so node:crypto) reports for NIST P-256. */
const P256_CURVE = 'prime256v1';

/** The DSSE algorithm a key is for, or undefined when it is neither ECDSA P-256 nor Ed25519. */
export function algorithmOfKey(key: KeyObject): SigningAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === P256_CURVE)
    return 'ecdsa-p256';
  return undefined;
}

/** A short description of a key's type for error messages (never its material). */
export function describeKeyType(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') return `ec ${details?.namedCurve ?? 'unknown curve'}`;
  if (details?.modulusLength !== undefined) return `${key.asymmetricKeyType} ${details.modulusLength} bits`;
  return String(key.asymmetricKeyType ?? key.type);
}

/**
 * Signs bytes with the primitive DSSE verifiers expect: ECDSA P-256 over SHA-256 with the signature
 * DER-encoded (ASN.1 SEQUENCE of r, s), as cosign and go-securesystemslib produce and verify it;
 * Ed25519 as pure Ed25519 over the message (no pre-hash), 64 raw bytes.
 *
 * Uses the callback form so the work runs on libuv's pool rather than the event loop.
 */
export function signRaw(algorithm: SigningAlgorithm, privateKey: KeyObject, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, signature: Buffer) => (error ? reject(error) : resolve(signature));
    if (algorithm === 'ed25519') sign(null, data, privateKey, done);
    else sign('sha256', data, { key: privateKey, dsaEncoding: 'der' }, done);
  });
}

/** Verifies a signature made by {@link signRaw}. Malformed signatures are a plain `false`, never a throw. */
export function verifyRaw(
  algorithm: SigningAlgorithm,
  publicKey: KeyObject,
  data: Buffer,
  signature: Buffer,
): boolean {
  try {
    if (algorithm === 'ed25519') return verify(null, data, publicKey, signature);
    return verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}
