import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDirSync } from './temp-dir.js';

/**
 * The tests' one PKI: every certificate a test needs (roots, intermediates, server leaves with
 * DNS and IP SANs, wrong-host and untrusted variants, the token server's RSA signer) is made by
 * the openssl CLI at test time. Independent of the proxy's own certificate code, so a bug there
 * cannot make both sides agree on something wrong. Keys live only in the test's temp dir.
 */

/** The hostname every test registry and the token server answer to (mapped to 127.0.0.1 in /etc/hosts). */
export const REGISTRY_HOSTNAME = 'registry.test';

/** Debian's bundle of system roots; Go's SSL_CERT_FILE replaces it, so bundles must include it. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export type KeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048';

/** A key and certificate written as `<name>.key` / `<name>.pem` in the PKI's directory. */
export interface PkiCert {
  readonly name: string;
  readonly keyPath: string;
  readonly certPath: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  readonly certPem: string;
}

export interface CaOptions {
  /** openssl `-subj` form; default `/CN=<name>`. */
  subject?: string;
  key?: KeyType;
  days?: number;
}

export interface LeafOptions {
  /** openssl subjectAltName entries, e.g. `DNS:localhost`, `IP:127.0.0.1`; none for a non-server leaf. */
  sans?: readonly string[];
  subject?: string;
  key?: KeyType;
  days?: number;
  /** Extended key usage serverAuth (default true when there are SANs). */
  serverAuth?: boolean;
}

const KEY_ARGS: Record<KeyType, string[]> = {
  'ec-p256': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'ec-p384': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  'rsa-2048': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
};

/** Mints roots, intermediates and leaves with the openssl CLI into one directory. */
export class OpensslPki {
  readonly dir: string;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.dir = dir;
  }

  /** A self-signed root CA. */
  ca(name: string, options: CaOptions = {}): PkiCert {
    this.newKey(name, options.key);
    this.openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      options.subject ?? `/CN=${name}`,
      '-days',
      String(options.days ?? 2),
      '-out',
      `${name}.pem`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-addext',
      'subjectKeyIdentifier=hash',
    );
    return this.read(name);
  }

  /** A CA signed by `issuer` (a team root's intermediate, say). */
  intermediate(name: string, issuer: PkiCert, options: CaOptions = {}): PkiCert {
    return this.sign(name, issuer, options, [
      'basicConstraints=critical,CA:TRUE',
      'keyUsage=critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
    ]);
  }

  /** An end-entity certificate signed by `issuer`; a server leaf when it has SANs. */
  leaf(name: string, issuer: PkiCert, options: LeafOptions = {}): PkiCert {
    const sans = options.sans ?? [];
    const serverAuth = options.serverAuth ?? sans.length > 0;
    return this.sign(name, issuer, options, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'authorityKeyIdentifier=keyid',
      ...(serverAuth ? ['extendedKeyUsage=serverAuth'] : []),
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
    ]);
  }

  private sign(name: string, issuer: PkiCert, options: CaOptions, extensions: string[]): PkiCert {
    this.newKey(name, options.key);
    this.openssl(
      'req',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      options.subject ?? `/CN=${name}`,
      '-out',
      `${name}.csr`,
    );
    writeFileSync(join(this.dir, `${name}.ext`), `${extensions.join('\n')}\n`);
    this.openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      issuer.certPath,
      '-CAkey',
      issuer.keyPath,
      '-CAcreateserial',
      '-days',
      String(options.days ?? 2),
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
    return this.read(name);
  }

  private newKey(name: string, key: KeyType = 'ec-p256'): void {
    this.openssl('genpkey', ...KEY_ARGS[key], '-out', `${name}.key`);
  }

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }

  private read(name: string): PkiCert {
    const keyPath = join(this.dir, `${name}.key`);
    const certPath = join(this.dir, `${name}.pem`);
    return {
      name,
      keyPath,
      certPath,
      keyPem: readFileSync(keyPath, 'utf8'),
      certPem: readFileSync(certPath, 'utf8'),
    };
  }
}

/** The registry lab's PKI: what registries, token server and fault proxies serve. */
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

/** Mints the lab's CA, its registry.test + 127.0.0.1 server leaf and the token signer into `dir`. */
export async function createTestCa(dir: string): Promise<TestCa> {
  const pki = new OpensslPki(dir);
  const ca = pki.ca('ca', { subject: '/CN=provenance-proxy interop test CA' });
  const server = pki.leaf('server', ca, {
    subject: `/CN=${REGISTRY_HOSTNAME}`,
    sans: [`DNS:${REGISTRY_HOSTNAME}`, 'IP:127.0.0.1'],
  });
  const token = pki.leaf('token-signer', ca, { subject: '/CN=interop token signer', key: 'rsa-2048' });
  return {
    dir,
    caCertPem: ca.certPem,
    caCertPath: ca.certPath,
    serverCertPath: server.certPath,
    serverKeyPath: server.keyPath,
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem,
    tokenSigningCertPem: token.certPem,
    tokenSigningKeyPem: token.keyPem,
  };
}

/** Certificates for the origin servers the proxy tests start. */
export interface TestPki {
  readonly dir: string;
  /** The CA the proxy is told to trust with --upstream-ca. */
  readonly caPem: string;
  readonly caPath: string;
  /** Leaf for localhost / 127.0.0.1 / origin.test signed by the CA. */
  readonly goodKey: string;
  readonly goodCert: string;
  /** Leaf signed by a CA nobody trusts. */
  readonly untrustedKey: string;
  readonly untrustedCert: string;
  /** Leaf signed by the trusted CA, but for another host name. */
  readonly wrongHostKey: string;
  readonly wrongHostCert: string;
}

let originPki: TestPki | null = null;

/** The origin PKI, minted once per test process (the origins of one file share it). */
export function testPki(): TestPki {
  if (originPki) return originPki;
  const pki = new OpensslPki(makeTempDirSync('pki'));
  const ca = pki.ca('origin-ca');
  const rogue = pki.ca('rogue-ca');
  const good = pki.leaf('good', ca, { sans: ['DNS:localhost', 'IP:127.0.0.1', 'DNS:origin.test'] });
  const untrusted = pki.leaf('untrusted', rogue, { sans: ['DNS:localhost', 'IP:127.0.0.1'] });
  const wrongHost = pki.leaf('wronghost', ca, { sans: ['DNS:elsewhere.test'] });
  originPki = {
    dir: pki.dir,
    caPem: ca.certPem,
    caPath: ca.certPath,
    goodKey: good.keyPem,
    goodCert: good.certPem,
    untrustedKey: untrusted.keyPem,
    untrustedCert: untrusted.certPem,
    wrongHostKey: wrongHost.keyPem,
    wrongHostCert: wrongHost.certPem,
  };
  return originPki;
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

function ensureTrailingNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}
