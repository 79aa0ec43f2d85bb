import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { CertificateAuthorityError } from '../errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** A signing algorithm for WebCrypto, chosen from the CA key's type. */
type SigningAlgorithm = (EcdsaParams & EcKeyImportParams) | RsaHashedImportParams;

export interface IssuedLeaf {
  /** PEM chain: leaf then CA. */
  certChainPem: string;
  keyPem: string;
  notAfter: Date;
}

/**
 * The pod's certificate authority.
 *
 * Minted in memory at start-up (ECDSA P-256, non-extractable private key), or
 * loaded from a PEM pair mounted from a Secret. Only the certificate ever
 * leaves the process. Leaves share one key pair: generating a key per host
 * would cost more than the signature and buy nothing, since the leaf key
 * lives in the same process as the CA key anyway.
 */
export class CertificateAuthority {
  readonly certPem: string;
  readonly notAfter: Date;
  readonly #caCert: x509.X509Certificate;
  readonly #caKey: CryptoKey;
  readonly #signingAlgorithm: SigningAlgorithm;
  readonly #leafKeys: CryptoKeyPair;
  readonly #leafKeyPem: string;
  /** Same for every leaf; computing it once saves a hash per new host. */
  #authorityKeyId: Promise<x509.AuthorityKeyIdentifierExtension> | null = null;

  private constructor(
    caCert: x509.X509Certificate,
    caKey: CryptoKey,
    signingAlgorithm: SigningAlgorithm,
    leafKeys: CryptoKeyPair,
    leafKeyPem: string,
  ) {
    this.#caCert = caCert;
    this.#caKey = caKey;
    this.#signingAlgorithm = signingAlgorithm;
    this.#leafKeys = leafKeys;
    this.#leafKeyPem = leafKeyPem;
    this.certPem = caCert.toString('pem');
    this.notAfter = caCert.notAfter;
  }

  /** Mints a fresh CA that exists only in this process. */
  static async mint(
    opts: { commonName?: string; validityDays?: number } = {},
  ): Promise<CertificateAuthority> {
    const { cert, keys } = await mintCaPair(opts, false);
    return CertificateAuthority.#withLeafKeys(cert, keys.privateKey, ECDSA_P256);
  }

  /** Uses a CA provided as PEM (certificate + PKCS#8 or SEC1/PKCS#1 private key). */
  static async fromPem(certPem: string, keyPem: string): Promise<CertificateAuthority> {
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(certPem);
    } catch (error) {
      throw new CertificateAuthorityError('the CA certificate is not a PEM X.509 certificate', {
        cause: error,
      });
    }
    let nodeKey: ReturnType<typeof createPrivateKey>;
    try {
      nodeKey = createPrivateKey(keyPem);
    } catch (error) {
      throw new CertificateAuthorityError('the CA key is not a PEM private key', { cause: error });
    }
    const algorithm = signingAlgorithmFor(nodeKey);
    const pkcs8 = nodeKey.export({ format: 'der', type: 'pkcs8' });
    const caKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
    const nodeCert = new X509Certificate(certPem);
    if (!nodeCert.checkPrivateKey(nodeKey)) {
      throw new CertificateAuthorityError('the CA key does not match the CA certificate');
    }
    if (!nodeCert.ca) {
      throw new CertificateAuthorityError('the CA certificate has no basicConstraints CA:TRUE');
    }
    if (cert.notAfter.getTime() < Date.now()) {
      throw new CertificateAuthorityError(`the CA certificate expired on ${cert.notAfter.toISOString()}`);
    }
    return CertificateAuthority.#withLeafKeys(cert, caKey, algorithm);
  }

  static async #withLeafKeys(
    cert: x509.X509Certificate,
    caKey: CryptoKey,
    algorithm: SigningAlgorithm,
  ): Promise<CertificateAuthority> {
    const leafKeys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const der = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
    const leafKeyPem = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
      .export({ format: 'pem', type: 'pkcs8' })
      .toString();
    return new CertificateAuthority(cert, caKey, algorithm, leafKeys, leafKeyPem);
  }

  #authorityKeyIdentifier(): Promise<x509.AuthorityKeyIdentifierExtension> {
    if (this.#authorityKeyId === null) {
      this.#authorityKeyId = x509.AuthorityKeyIdentifierExtension.create(this.#caCert);
    }
    return this.#authorityKeyId;
  }

  /** Issues a leaf for one host name or IP literal, valid for a day (never past the CA). */
  async issueLeaf(host: string): Promise<IssuedLeaf> {
    const now = Date.now();
    const notAfter = new Date(Math.min(now + DAY, this.notAfter.getTime()));
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${escapeDnValue(host)}`,
      issuer: this.#caCert.subject,
      notBefore: new Date(now - HOUR),
      notAfter,
      signingAlgorithm: this.#signingAlgorithm,
      publicKey: this.#leafKeys.publicKey,
      signingKey: this.#caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          isIP(host) ? { type: 'ip', value: host } : { type: 'dns', value: host },
        ]),
        await this.#authorityKeyIdentifier(),
      ],
    });
    return { certChainPem: `${leaf.toString('pem')}\n${this.certPem}`, keyPem: this.#leafKeyPem, notAfter };
  }
}

/**
 * Creates a CA pair. With `exportable`, the private key can be exported as PEM
 * (for `provenance-proxy ca --create`, whose output goes into a Secret).
 */
export async function mintCaPair(
  opts: { commonName?: string; validityDays?: number },
  exportable: boolean,
): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, exportable, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const now = Date.now();
  const commonName = opts.commonName ?? `provenance-proxy pod CA ${randomBytes(4).toString('hex')}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${escapeDnValue(commonName)}, O=provenance-proxy`,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + (opts.validityDays ?? 14) * DAY),
    signingAlgorithm: ECDSA_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

/** PEM of an exportable private key (PKCS#8). */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
}

function signingAlgorithmFor(key: ReturnType<typeof createPrivateKey>): SigningAlgorithm {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    if (curve === 'secp384r1') return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
    throw new CertificateAuthorityError(`the CA key's curve ${curve} is not supported (use P-256 or P-384)`);
  }
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  throw new CertificateAuthorityError(
    `the CA key type ${key.asymmetricKeyType} is not supported (use ECDSA P-256/P-384 or RSA)`,
  );
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive INTEGER
  return bytes.toString('hex');
}

/** Host names reach the subject DN; keep RFC 4514 special characters from changing its structure. */
function escapeDnValue(value: string): string {
  return value.replace(/[,+"\\<>;=#]/g, (c) => `\\${c}`);
}
