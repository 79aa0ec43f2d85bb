import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

// node-forge's index loads all of it (TLS, RSA, ciphers…): ~10 MiB more resident memory in a
// sidecar that only needs the ASN.1 codec, which loads just util and oids beside it.
const requireCjs = createRequire(import.meta.url);
requireCjs('node-forge/lib/asn1.js'); // attaches asn1 and util to forge's shared namespace
const forge = requireCjs('node-forge/lib/forge.js') as typeof Forge;

/**
 * The few DER building blocks certificates need, on node-forge's asn1 encoder.
 * Shared by the CA certificate and the leaf template.
 */
export const { asn1 } = forge;
export type Asn1 = Forge.asn1.Asn1;

export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** X.501 Name with a CN (and optionally an O), UTF8String values. */
export function name(commonName: string, organization?: string): Asn1 {
  const rdn = (id: string, value: string) =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
      sequence([oid(id), primitive(asn1.Type.UTF8, forge.util.encodeUtf8(value))]),
    ]);
  return sequence([
    rdn(OID.commonName, commonName),
    ...(organization === undefined ? [] : [rdn(OID.organization, organization)]),
  ]);
}

/** The fields of a certificate's TBSCertificate, with the version tag accounted for. */
function tbsFields(certDer: Buffer): Asn1[] {
  const cert = fromDer(certDer);
  const fields = ((cert.value as Asn1[])[0]!.value as Asn1[]) ?? [];
  return fields[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC ? fields.slice(1) : fields;
}

/** The subject Name of a certificate, as the issuer of what it signs (byte for byte). */
export function subjectOf(certDer: Buffer): Asn1 {
  return tbsFields(certDer)[4]!;
}

/** The keyIdentifier of a certificate's SubjectKeyIdentifier extension, or null. */
export function subjectKeyIdOf(certDer: Buffer): Buffer | null {
  const extensions = tbsFields(certDer).find(
    (f) => f.tagClass === asn1.Class.CONTEXT_SPECIFIC && f.type === 3,
  );
  for (const ext of ((extensions?.value as Asn1[] | undefined)?.[0]?.value as Asn1[] | undefined) ?? []) {
    const parts = ext.value as Asn1[];
    if (asn1.derToOid(forge.util.createBuffer(parts[0]!.value as string)) !== OID.subjectKeyIdentifier)
      continue;
    const inner = asn1.fromDer(forge.util.createBuffer(parts[parts.length - 1]!.value as string));
    return Buffer.from(inner.value as string, 'binary');
  }
  return null;
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const bits = (fromDer(spkiDer).value as Asn1[])[1]!.value as string;
  return createHash('sha1')
    .update(Buffer.from(bits.slice(1), 'binary'))
    .digest();
}

export function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01; // positive, and no leading zero byte to strip
  return bytes.toString('binary');
}

export function time(date: Date): Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime after.
  return date.getUTCFullYear() < 2050
    ? primitive(asn1.Type.UTCTIME, asn1.dateToUtcTime(date))
    : primitive(asn1.Type.GENERALIZEDTIME, asn1.dateToGeneralizedTime(date));
}

export function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(id)];
  if (critical) parts.push(primitive(asn1.Type.BOOLEAN, '\xff'));
  parts.push(primitive(asn1.Type.OCTETSTRING, asn1.toDer(value).getBytes()));
  return sequence(parts);
}

export function sequence(value: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, value);
}

export function primitive(type: number, bytes: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, type, false, bytes);
}

export function oid(id: string): Asn1 {
  return primitive(asn1.Type.OID, asn1.oidToDer(id).getBytes());
}

export function fromDer(der: Buffer): Asn1 {
  return asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
}

export function toDer(value: Asn1): Buffer {
  return Buffer.from(asn1.toDer(value).getBytes(), 'binary');
}

export function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
