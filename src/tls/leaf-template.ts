import { type KeyObject, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

/** How the CA signs: the signature algorithm OID in the certificate and the digest node:crypto uses. */
export interface LeafSigning {
  readonly caKey: KeyObject;
  readonly algorithmOid: string;
  /** RSA algorithm identifiers carry an explicit NULL parameter; ECDSA ones carry none. */
  readonly nullParameters: boolean;
  readonly digest: 'sha256' | 'sha384';
}

export const SIGNING_BY_KEY = {
  'ec-p256': { algorithmOid: '1.2.840.10045.4.3.2', nullParameters: false, digest: 'sha256' },
  'ec-p384': { algorithmOid: '1.2.840.10045.4.3.3', nullParameters: false, digest: 'sha384' },
  rsa: { algorithmOid: '1.2.840.113549.1.1.11', nullParameters: true, digest: 'sha256' },
} as const;

const OID = {
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

/**
 * Issues leaf certificates from a DER template: everything that is the same for
 * every leaf (issuer name, leaf public key, signature algorithm, authority key
 * id) is encoded once; per host only the serial, validity, subject and SAN are
 * encoded and the TBS is signed natively. Measured in bench/leaf-signing.ts:
 * about 25× less CPU per leaf than building it through @peculiar/x509, which
 * matters because every new host in a build costs one leaf.
 */
export class LeafTemplate {
  readonly #signing: LeafSigning;
  readonly #issuer: Asn1;
  readonly #leafSpki: Asn1;
  readonly #authorityKeyId: Buffer | null;

  constructor(opts: {
    signing: LeafSigning;
    caCertDer: Buffer;
    leafSpkiDer: Buffer;
    caSubjectKeyId: Buffer | null;
  }) {
    this.#signing = opts.signing;
    this.#issuer = subjectOf(opts.caCertDer);
    this.#leafSpki = fromDer(opts.leafSpkiDer);
    this.#authorityKeyId = opts.caSubjectKeyId;
  }

  /** DER of a leaf for `host` (DNS name or IP literal), valid from `notBefore` to `notAfter`. */
  issue(host: string, notBefore: Date, notAfter: Date): Buffer {
    const extensions = [
      extension(OID.basicConstraints, true, sequence([])),
      // digitalSignature only: one BIT STRING byte with 7 unused bits.
      extension(OID.keyUsage, true, primitive(asn1.Type.BITSTRING, '\x07\x80')),
      extension(OID.extKeyUsage, false, sequence([oid(OID.serverAuth)])),
      extension(OID.subjectAltName, false, sequence([subjectAltName(host)])),
    ];
    if (this.#authorityKeyId) {
      extensions.push(
        extension(
          OID.authorityKeyIdentifier,
          false,
          sequence([
            asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, this.#authorityKeyId.toString('binary')),
          ]),
        ),
      );
    }
    const tbs = sequence([
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [primitive(asn1.Type.INTEGER, '\x02')]),
      primitive(asn1.Type.INTEGER, serialNumber()),
      this.#algorithm(),
      this.#issuer,
      sequence([time(notBefore), time(notAfter)]),
      sequence([
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
          sequence([oid(OID.commonName), primitive(asn1.Type.UTF8, forge.util.encodeUtf8(host))]),
        ]),
      ]),
      this.#leafSpki,
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [sequence(extensions)]),
    ]);
    const tbsDer = asn1.toDer(tbs).getBytes();
    const signature = sign(this.#signing.digest, Buffer.from(tbsDer, 'binary'), {
      key: this.#signing.caKey,
      dsaEncoding: 'der',
    });
    const certificate = sequence([
      fromDer(Buffer.from(tbsDer, 'binary')),
      this.#algorithm(),
      primitive(asn1.Type.BITSTRING, `\x00${signature.toString('binary')}`),
    ]);
    return Buffer.from(asn1.toDer(certificate).getBytes(), 'binary');
  }

  #algorithm(): Asn1 {
    const parts = [oid(this.#signing.algorithmOid)];
    if (this.#signing.nullParameters) parts.push(primitive(asn1.Type.NULL, ''));
    return sequence(parts);
  }
}

function subjectAltName(host: string): Asn1 {
  const family = isIP(host);
  if (family === 0) return asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, host);
  const bytes = family === 4 ? Buffer.from(host.split('.').map(Number)) : ipv6Bytes(host);
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, 7, false, bytes.toString('binary'));
}

function ipv6Bytes(host: string): Buffer {
  const [head = '', tail = ''] = host.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = host.includes('::') ? groups(tail) : [];
  const middle = Array(8 - left.length - right.length).fill('0');
  return Buffer.from(
    [...left, ...middle, ...right].flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]),
  );
}

/** The subject Name of a certificate, as the issuer of the leaves it signs (byte for byte). */
function subjectOf(certDer: Buffer): Asn1 {
  const cert = fromDer(certDer);
  const tbs = (cert.value as Asn1[])[0]!;
  const fields = tbs.value as Asn1[];
  const hasVersion = fields[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC;
  return fields[hasVersion ? 5 : 4]!;
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01; // positive, and no leading zero byte to strip
  return bytes.toString('binary');
}

function time(date: Date): Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime after.
  return date.getUTCFullYear() < 2050
    ? primitive(asn1.Type.UTCTIME, asn1.dateToUtcTime(date))
    : primitive(asn1.Type.GENERALIZEDTIME, asn1.dateToGeneralizedTime(date));
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(primitive(asn1.Type.BOOLEAN, '\xff'));
  parts.push(primitive(asn1.Type.OCTETSTRING, asn1.toDer(value).getBytes()));
  return sequence(parts);
}

function sequence(value: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, value);
}

function primitive(type: number, bytes: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, type, false, bytes);
}

function oid(id: string): Asn1 {
  return primitive(asn1.Type.OID, asn1.oidToDer(id).getBytes());
}

function fromDer(der: Buffer): Asn1 {
  return asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
}
