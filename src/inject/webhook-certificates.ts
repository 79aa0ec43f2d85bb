import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mintCaPair } from '../tls/certificate-authority.js';
import {
  asn1,
  extension,
  keyIdentifier,
  name,
  OID,
  oid,
  primitive,
  sequence,
  serialNumber,
  subjectOf,
  time,
  toPem,
} from '../tls/der.js';
import {
  algorithmIdentifier,
  SIGNING_BY_KEY,
  signCertificate,
  subjectAltName,
} from '../tls/leaf-template.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

export interface WebhookCertificates {
  /** PEM of the self-signed CA: the MutatingWebhookConfiguration's caBundle (base64 of it). */
  caPem: string;
  /** Serving certificate for the webhook Service, and its key (PKCS#8 PEM). */
  certPem: string;
  keyPem: string;
  hosts: string[];
  notAfter: Date;
}

/** The names the API server uses to reach a Service: name.namespace.svc (and the longer forms). */
export function serviceHosts(service: string, namespace: string): string[] {
  return [
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    `${service}.${namespace}`,
  ];
}

/**
 * The bootstrap alternative to cert-manager: a CA that signs one serving certificate and is
 * then thrown away (its key is never written), so nothing else can be signed with it.
 */
export async function mintWebhookCertificates(opts: {
  hosts: string[];
  validityDays: number;
}): Promise<WebhookCertificates> {
  const ca = await mintCaPair({
    commonName: 'provenance-proxy injector CA',
    validityDays: opts.validityDays,
  });
  const caKey = createPrivateKey(ca.keyPem);
  const caDer = new X509Certificate(ca.certPem).raw;
  const leaf = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = leaf.publicKey.export({ format: 'der', type: 'spki' });
  const signing = { caKey, ...SIGNING_BY_KEY['ec-p256'] };
  const now = Date.now();
  const notAfter = new Date(now + opts.validityDays * DAY);
  const tbs = sequence([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [primitive(asn1.Type.INTEGER, '\x02')]),
    primitive(asn1.Type.INTEGER, serialNumber()),
    algorithmIdentifier(signing),
    subjectOf(caDer),
    sequence([time(new Date(now - HOUR)), time(notAfter)]),
    name(opts.hosts[0] ?? 'provenance-proxy-injector'),
    asn1.fromDer(spki.toString('binary')),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [
      sequence([
        extension(OID.basicConstraints, true, sequence([])),
        // digitalSignature only: one BIT STRING byte with 7 unused bits.
        extension(OID.keyUsage, true, primitive(asn1.Type.BITSTRING, '\x07\x80')),
        extension(OID.extKeyUsage, false, sequence([oid(OID.serverAuth)])),
        extension(OID.subjectAltName, false, sequence(opts.hosts.map(subjectAltName))),
        extension(
          OID.authorityKeyIdentifier,
          false,
          sequence([
            asn1.create(
              asn1.Class.CONTEXT_SPECIFIC,
              0,
              false,
              keyIdentifier(
                Buffer.from(
                  new X509Certificate(ca.certPem).publicKey.export({ format: 'der', type: 'spki' }),
                ),
              ).toString('binary'),
            ),
          ]),
        ),
      ]),
    ]),
  ]);
  const der = await signCertificate(tbs, signing);
  return {
    caPem: ca.certPem,
    certPem: toPem(der),
    keyPem: leaf.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    hosts: opts.hosts,
    notAfter,
  };
}
