import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import { webcrypto } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** The hostname every test registry and the token server answer to (mapped to 127.0.0.1 in /etc/hosts). */
export const REGISTRY_HOSTNAME = 'registry.test';

/** Debian's bundle of system roots; Go's SSL_CERT_FILE replaces it, so bundles must include it. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

const ECDSA_P256: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const ECDSA_SHA256: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const RSA_PKCS1_SHA256: RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
};

export interface TestCa {
  dir: string;
  /** PEM of the CA certificate (what registries' clients and the proxy's upstream must trust). */
  caCertPem: string;
  caCertPath: string;
  /** Leaf for registry.test + 127.0.0.1, used by the registries, the token server and fault proxies. */
  serverCertPath: string;
  serverKeyPath: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** RSA key + certificate (signed by the CA) the token server signs RS256 JWTs with. */
  tokenSigningCertPem: string;
  tokenSigningKeyPem: string;
}

/**
 * Mints, at test time, a throw-away CA and the certificates the lab needs, written to `dir`.
 * Nothing here is ever committed: keys live only in the test's temp dir.
 */
export async function createTestCa(dir: string): Promise<TestCa> {
  await mkdir(dir, { recursive: true });
  const notBefore = new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = new Date(Date.now() + 24 * 60 * 60 * 1000);

  const caKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: 'CN=provenance-proxy interop test CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const serverKeys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  const serverCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${REGISTRY_HOSTNAME}`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: REGISTRY_HOSTNAME },
        { type: 'ip', value: '127.0.0.1' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const tokenKeys = await webcrypto.subtle.generateKey(RSA_PKCS1_SHA256, true, ['sign', 'verify']);
  const tokenCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=interop token signer',
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: tokenKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const ca: TestCa = {
    dir,
    caCertPem: caCert.toString('pem'),
    caCertPath: join(dir, 'ca.crt'),
    serverCertPath: join(dir, 'server.crt'),
    serverKeyPath: join(dir, 'server.key'),
    serverCertPem: serverCert.toString('pem'),
    serverKeyPem: await privateKeyPem(serverKeys.privateKey),
    tokenSigningCertPem: tokenCert.toString('pem'),
    tokenSigningKeyPem: await privateKeyPem(tokenKeys.privateKey),
  };
  await writeFile(ca.caCertPath, `${ca.caCertPem}\n`);
  // Go's TLS server wants the chain in the certificate file; the leaf alone verifies too.
  await writeFile(ca.serverCertPath, `${ca.serverCertPem}\n`);
  await writeFile(ca.serverKeyPath, `${ca.serverKeyPem}\n`, { mode: 0o600 });
  return ca;
}

/**
 * What a client needs to trust `caPem`, in both forms the clients take:
 * `certDir` holds only `ca.crt` (containers/image's --cert-dir adds it to the system roots),
 * `bundlePath` is system roots + `caPem` (Go's SSL_CERT_FILE replaces the system roots).
 */
export interface TrustMaterial {
  caPem: string;
  certDir: string;
  bundlePath: string;
}

export async function writeTrustMaterial(dir: string, caPem: string): Promise<TrustMaterial> {
  const certDir = join(dir, 'cert-dir');
  await mkdir(certDir, { recursive: true });
  await writeFile(join(certDir, 'ca.crt'), ensureTrailingNewline(caPem));
  const system = await readFile(SYSTEM_CA_BUNDLE, 'utf8').catch(() => '');
  const bundlePath = join(dir, 'ca-bundle.pem');
  await writeFile(bundlePath, `${ensureTrailingNewline(system)}${ensureTrailingNewline(caPem)}`);
  return { caPem, certDir, bundlePath };
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = pkcs8.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----`;
}

function randomSerial(): string {
  // Positive 16-byte serial: clear the top bit so DER does not read it as negative.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

function ensureTrailingNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}
