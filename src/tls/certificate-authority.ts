import { createPrivateKey, type KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { CertificateAuthorityError } from '../errors.js';
import {
  asn1,
  extension,
  keyIdentifier,
  name,
  OID,
  primitive,
  sequence,
  serialNumber,
  subjectKeyIdOf,
  time,
  toPem,
} from './der.js';
import {
  algorithmIdentifier,
  type LeafSigning,
  LeafTemplate,
  SIGNING_BY_KEY,
  signCertificate,
} from './leaf-template.js';

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const HOUR = 3600_000;
const DAY = 24 * HOUR;

export interface IssuedLeaf {
  /** PEM chain: the leaf, then the CA when it is an intermediate (see `#chainTail`). */
  certChainPem: string;
  keyPem: string;
  notAfter: Date;
}

/**
 * The pod's certificate authority.
 *
 * Minted in memory at start-up (ECDSA P-256; the private key is a
 * non-extractable WebCrypto key: it can sign, nothing can export it), or loaded
 * from a PEM pair mounted from a Secret. Only the certificate ever leaves the
 * process. Leaves share one key pair: generating a key per host would cost more
 * than the signature and buy nothing, since the leaf key lives in the same
 * process as the CA key anyway.
 */
export class CertificateAuthority {
  readonly certPem: string;
  readonly notAfter: Date;
  readonly #template: LeafTemplate;
  readonly #leafKeyPem: string;
  /**
   * What follows the leaf in the chain served to clients. A self-signed CA is a trust anchor
   * the client already holds, so it is left out (RFC 8446 §4.4.2 lets the root be omitted), and
   * each new host's TLS context parses one certificate instead of two (0.3 ms less per leaf,
   * measured). An intermediate from `--ca-cert` must be sent: the client may trust only its root.
   */
  readonly #chainTail: string;

  private constructor(
    caCertDer: Buffer,
    signing: LeafSigning,
    leafKeys: webcrypto.CryptoKeyPair & { spki: Buffer; pem: string },
  ) {
    const cert = new X509Certificate(caCertDer);
    this.certPem = cert.toString();
    this.#chainTail = cert.checkIssued(cert) && cert.verify(cert.publicKey) ? '' : this.certPem;
    this.notAfter = new Date(cert.validTo);
    this.#leafKeyPem = leafKeys.pem;
    this.#template = new LeafTemplate({
      signing,
      caCertDer,
      leafSpkiDer: leafKeys.spki,
      caSubjectKeyId: subjectKeyIdOf(caCertDer),
    });
  }

  /** Mints a fresh CA that exists only in this process. */
  static async mint(
    opts: { commonName?: string; validityDays?: number } = {},
  ): Promise<CertificateAuthority> {
    const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, false, ['sign', 'verify'])) as CryptoKeyPair;
    const der = await selfSignedCa(keys, opts);
    return new CertificateAuthority(der, webCryptoSigning(keys.privateKey), await leafKeyPair());
  }

  /** Uses a CA provided as PEM (certificate + PKCS#8, SEC1 or PKCS#1 private key). */
  static async fromPem(certPem: string, keyPem: string): Promise<CertificateAuthority> {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch (error) {
      throw new CertificateAuthorityError('the CA certificate is not a PEM X.509 certificate', {
        cause: error,
      });
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(keyPem);
    } catch (error) {
      throw new CertificateAuthorityError('the CA key is not a PEM private key', { cause: error });
    }
    const signing = signingFor(key);
    if (!cert.checkPrivateKey(key))
      throw new CertificateAuthorityError('the CA key does not match the CA certificate');
    if (!cert.ca) throw new CertificateAuthorityError('the CA certificate has no basicConstraints CA:TRUE');
    if (new Date(cert.validTo).getTime() < Date.now()) {
      throw new CertificateAuthorityError(
        `the CA certificate expired on ${new Date(cert.validTo).toISOString()}`,
      );
    }
    return new CertificateAuthority(cert.raw, signing, await leafKeyPair());
  }

  /** Issues a leaf for one host name or IP literal, valid for a day (never past the CA). */
  async issueLeaf(host: string): Promise<IssuedLeaf> {
    const now = Date.now();
    const notAfter = new Date(Math.min(now + DAY, this.notAfter.getTime()));
    const der = await this.#template.issue(host, new Date(now - HOUR), notAfter);
    return { certChainPem: `${toPem(der)}${this.#chainTail}`, keyPem: this.#leafKeyPem, notAfter };
  }
}

/**
 * Creates an exportable CA pair as PEM, for `provenance-proxy ca --create`
 * (its output goes into a Kubernetes Secret).
 */
export async function mintCaPair(opts: {
  commonName?: string;
  validityDays?: number;
}): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const der = await selfSignedCa(keys, opts);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({
    format: 'pem',
    type: 'pkcs8',
  });
  return { certPem: toPem(der), keyPem: keyPem.toString() };
}

async function selfSignedCa(
  keys: CryptoKeyPair,
  opts: { commonName?: string; validityDays?: number },
): Promise<Buffer> {
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  const signing = webCryptoSigning(keys.privateKey);
  const now = Date.now();
  const subject = name(
    opts.commonName ?? `provenance-proxy pod CA ${randomBytes(4).toString('hex')}`,
    'provenance-proxy',
  );
  const tbs = sequence([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [primitive(asn1.Type.INTEGER, '\x02')]),
    primitive(asn1.Type.INTEGER, serialNumber()),
    algorithmIdentifier(signing),
    subject,
    sequence([time(new Date(now - HOUR)), time(new Date(now + (opts.validityDays ?? 14) * DAY))]),
    subject,
    asn1.fromDer(spki.toString('binary')),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [
      sequence([
        // CA:TRUE, pathLenConstraint 0: it signs leaves, never other CAs.
        extension(
          OID.basicConstraints,
          true,
          sequence([primitive(asn1.Type.BOOLEAN, '\xff'), primitive(asn1.Type.INTEGER, '\x00')]),
        ),
        // keyCertSign | cRLSign: bits 5 and 6, one unused bit.
        extension(OID.keyUsage, true, primitive(asn1.Type.BITSTRING, '\x01\x06')),
        extension(
          OID.subjectKeyIdentifier,
          false,
          primitive(asn1.Type.OCTETSTRING, keyIdentifier(spki).toString('binary')),
        ),
      ]),
    ]),
  ]);
  return signCertificate(tbs, signing);
}

async function leafKeyPair() {
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const pem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({
    format: 'pem',
    type: 'pkcs8',
  });
  return { ...keys, spki, pem: pem.toString() };
}

/** A minted CA signs through WebCrypto, so its non-extractable key never becomes exportable. */
function webCryptoSigning(key: CryptoKey): LeafSigning {
  return { caKey: key, ...SIGNING_BY_KEY['ec-p256'] };
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
