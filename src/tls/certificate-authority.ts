import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import {
  createPrivateKey,
  generateKeyPairSync,
  KeyObject,
  randomBytes,
  webcrypto,
  X509Certificate,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CertificateAuthorityError } from '../errors.js';
import { type LeafSigning, LeafTemplate, SIGNING_BY_KEY } from './leaf-template.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3600_000;
const DAY = 24 * HOUR;

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
  readonly #template: LeafTemplate;
  readonly #leafKeyPem: string;

  private constructor(caCert: x509.X509Certificate, signing: LeafSigning) {
    const leafKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#leafKeyPem = leafKeys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const subjectKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    this.#template = new LeafTemplate({
      signing,
      caCertDer: Buffer.from(caCert.rawData),
      leafSpkiDer: leafKeys.publicKey.export({ format: 'der', type: 'spki' }),
      caSubjectKeyId: subjectKeyId ? Buffer.from(subjectKeyId, 'hex') : null,
    });
    this.certPem = caCert.toString('pem');
    this.notAfter = caCert.notAfter;
  }

  /** Mints a fresh CA that exists only in this process. */
  static async mint(
    opts: { commonName?: string; validityDays?: number } = {},
  ): Promise<CertificateAuthority> {
    const { cert, keys } = await mintCaPair(opts, false);
    // KeyObject.from keeps the key non-extractable: it can sign, never be exported.
    return new CertificateAuthority(cert, {
      caKey: KeyObject.from(keys.privateKey),
      ...SIGNING_BY_KEY['ec-p256'],
    });
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
    let nodeKey: KeyObject;
    try {
      nodeKey = createPrivateKey(keyPem);
    } catch (error) {
      throw new CertificateAuthorityError('the CA key is not a PEM private key', { cause: error });
    }
    const signing = signingFor(nodeKey);
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
    return new CertificateAuthority(cert, signing);
  }

  /** Issues a leaf for one host name or IP literal, valid for a day (never past the CA). */
  async issueLeaf(host: string): Promise<IssuedLeaf> {
    const now = Date.now();
    const notAfter = new Date(Math.min(now + DAY, this.notAfter.getTime()));
    const der = this.#template.issue(host, new Date(now - HOUR), notAfter);
    return { certChainPem: `${toPem(der)}${this.certPem}`, keyPem: this.#leafKeyPem, notAfter };
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

function signingFor(key: KeyObject): LeafSigning {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { caKey: key, ...SIGNING_BY_KEY['ec-p256'] };
    if (curve === 'secp384r1') return { caKey: key, ...SIGNING_BY_KEY['ec-p384'] };
    throw new CertificateAuthorityError(`the CA key's curve ${curve} is not supported (use P-256 or P-384)`);
  }
  if (key.asymmetricKeyType === 'rsa') return { caKey: key, ...SIGNING_BY_KEY.rsa };
  throw new CertificateAuthorityError(
    `the CA key type ${key.asymmetricKeyType} is not supported (use ECDSA P-256/P-384 or RSA)`,
  );
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
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
