import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { signDsse } from './dsse.js';
import type { DsseEnvelope, Signer } from './envelope.js';
import { keyFingerprint } from './public-key.js';
import { algorithmOfKey, describeKeyType, type SigningAlgorithm, signRaw } from './raw-signature.js';
import { SigningError, SigningKeyError } from './signing-errors.js';

/** Option names used in messages, so an operator knows which flag to fix. */
const KEY_OPTION = '--signing-key';
const KEYID_OPTION = '--signing-keyid';

/** Printable ASCII without spaces: keyids end up in JSON, Grafeas rows and log lines. */
const KEYID_RULE = /^[\x21-\x7e]{1,256}$/;

export interface KeySignerOptions {
  /** The keyid put in each signature. Default: the key's fingerprint, `sha256:<hex of SPKI DER sha256>`. */
  readonly keyid?: string;
}

/**
 * A DSSE signer holding one private key in memory.
 *
 * The key lives in a private field: it is not enumerable, not in JSON.stringify, not in util.inspect,
 * and nothing in this class returns it. The PEM it came from is not kept.
 */
export class KeySigner implements Signer {
  readonly keyid: string;
  readonly algorithm: SigningAlgorithm;
  readonly publicKeyPem: string;
  readonly ephemeral: boolean;
  readonly #privateKey: KeyObject;

  private constructor(
    privateKey: KeyObject,
    algorithm: SigningAlgorithm,
    ephemeral: boolean,
    keyid?: string,
  ) {
    const publicKey = createPublicKey(privateKey);
    this.#privateKey = privateKey;
    this.algorithm = algorithm;
    this.ephemeral = ephemeral;
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.keyid = keyid ?? keyFingerprint(publicKey);
    Object.freeze(this);
  }

  /** Checks the key's type and the options, then wraps it. Only ECDSA P-256 and Ed25519 are accepted. */
  static fromPrivateKey(
    privateKey: KeyObject,
    options: KeySignerOptions & { ephemeral?: boolean } = {},
  ): KeySigner {
    if (privateKey.type !== 'private') {
      throw new SigningKeyError('ERR_SIGNING_KEY_INVALID', KEY_OPTION, 'the file must hold a private key');
    }
    const algorithm = algorithmOfKey(privateKey);
    if (algorithm === undefined) {
      throw new SigningKeyError(
        'ERR_SIGNING_KEY_UNSUPPORTED',
        KEY_OPTION,
        `the key must be ECDSA P-256 (prime256v1) or Ed25519, not ${describeKeyType(privateKey)}`,
      );
    }
    if (options.keyid !== undefined && !KEYID_RULE.test(options.keyid)) {
      throw new SigningKeyError(
        'ERR_SIGNING_KEYID_INVALID',
        KEYID_OPTION,
        'must be 1 to 256 printable ASCII characters without spaces',
      );
    }
    return new KeySigner(privateKey, algorithm, options.ephemeral ?? false, options.keyid);
  }

  async sign(payloadType: string, payload: Buffer): Promise<DsseEnvelope> {
    return signDsse(payloadType, payload, this.keyid, async (pae) => {
      try {
        return await signRaw(this.algorithm, this.#privateKey, pae);
      } catch (error) {
        throw new SigningError(`signing with ${this.algorithm} key ${this.keyid} failed`, { cause: error });
      }
    });
  }

  /** What may be published about this signer. */
  toJSON(): { keyid: string; algorithm: SigningAlgorithm; publicKeyPem: string; ephemeral: boolean } {
    return {
      keyid: this.keyid,
      algorithm: this.algorithm,
      publicKeyPem: this.publicKeyPem,
      ephemeral: this.ephemeral,
    };
  }

  [inspect.custom](): string {
    return `KeySigner { keyid: '${this.keyid}', algorithm: '${this.algorithm}', ephemeral: ${this.ephemeral} }`;
  }
}

/** Builds a signer from PEM bytes (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY`). Wipes the buffer afterwards. */
export function keySignerFromPem(pem: Buffer, options: KeySignerOptions = {}): KeySigner {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    // Buffer.includes searches the bytes without making a string copy of the key.
    if (pem.includes('ENCRYPTED')) {
      throw new SigningKeyError(
        'ERR_SIGNING_KEY_ENCRYPTED',
        KEY_OPTION,
        'the key is encrypted; give an unencrypted PKCS#8 or SEC1 PEM key (mounted from a Secret)',
      );
    }
    const rule =
      pem.includes('PUBLIC KEY') || pem.includes('CERTIFICATE')
        ? 'the file holds a public key or certificate; give the private key'
        : 'the file is not a PEM private key';
    throw new SigningKeyError('ERR_SIGNING_KEY_INVALID', KEY_OPTION, rule, { cause: error });
  } finally {
    pem.fill(0);
  }
  return KeySigner.fromPrivateKey(privateKey, options);
}

/** Reads the signing key once, at start-up. The path is named in errors; the contents never are. */
export async function loadKeySigner(keyPath: string, options: KeySignerOptions = {}): Promise<KeySigner> {
  let pem: Buffer;
  try {
    pem = await readFile(keyPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new SigningKeyError('ERR_SIGNING_KEY_UNREADABLE', KEY_OPTION, `cannot read ${keyPath} (${code})`, {
      cause: error,
    });
  }
  return keySignerFromPem(pem, options);
}

/**
 * A key made in memory for this process only. Its signatures prove nothing beyond the pod: the caller
 * must publish the public key with the provenance and warn that it is ephemeral.
 */
export function createEphemeralSigner(options: KeySignerOptions = {}): KeySigner {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return KeySigner.fromPrivateKey(privateKey, { ...options, ephemeral: true });
}
