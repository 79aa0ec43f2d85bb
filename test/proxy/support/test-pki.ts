import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Certificates for the origin servers the tests start, made by the openssl
 * CLI at test time: independent of the proxy's own certificate code, so a bug
 * there cannot make both sides agree on something wrong.
 */
export interface TestPki {
  readonly dir: string;
  /** The CA the proxy is told to trust with --upstream-ca. */
  readonly caPem: string;
  readonly caPath: string;
  /** Leaf for localhost / 127.0.0.1 signed by the CA. */
  readonly goodKey: string;
  readonly goodCert: string;
  /** Leaf signed by a CA nobody trusts. */
  readonly untrustedKey: string;
  readonly untrustedCert: string;
  /** Leaf signed by the trusted CA, but for another host name. */
  readonly wrongHostKey: string;
  readonly wrongHostCert: string;
}

let cached: TestPki | null = null;

export function testPki(): TestPki {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'pp-pki-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const makeCa = (name: string) => {
    run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
    run(
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      `/CN=${name}`,
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  };
  const makeLeaf = (name: string, ca: string, san: string) => {
    run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
    run('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    );
  };
  makeCa('origin-ca');
  makeCa('rogue-ca');
  makeLeaf('good', 'origin-ca', 'DNS:localhost,IP:127.0.0.1,DNS:origin.test');
  makeLeaf('untrusted', 'rogue-ca', 'DNS:localhost,IP:127.0.0.1');
  makeLeaf('wronghost', 'origin-ca', 'DNS:elsewhere.test');
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  cached = {
    dir,
    caPem: read('origin-ca.pem'),
    caPath: join(dir, 'origin-ca.pem'),
    goodKey: read('good.key'),
    goodCert: read('good.pem'),
    untrustedKey: read('untrusted.key'),
    untrustedCert: read('untrusted.pem'),
    wrongHostKey: read('wronghost.key'),
    wrongHostCert: read('wronghost.pem'),
  };
  return cached;
}
