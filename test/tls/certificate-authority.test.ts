import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CertificateAuthority } from '../../src/tls/certificate-authority.js';
import { type KeyType, OpensslPki, type PkiCert } from '../support/pki.js';
import { makeTempDirSync } from '../support/temp-dir.js';

/** A CA pair made by openssl, so loading is tested on keys our code did not write. */
function opensslCa(key: KeyType): { cert: string; key: string; pki: OpensslPki; root: PkiCert } {
  const pki = new OpensslPki(makeTempDirSync('ca'));
  const root = pki.ca('ca', { subject: '/CN=Team CA, with comma/O=Example', key });
  return { cert: root.certPem, key: root.keyPem, pki, root };
}

const cases: [string, () => Promise<CertificateAuthority>][] = [
  ['minted ECDSA P-256', () => CertificateAuthority.mint()],
  [
    'provided ECDSA P-384',
    async () => {
      const ca = opensslCa('ec-p384');
      return CertificateAuthority.fromPem(ca.cert, ca.key);
    },
  ],
  [
    'provided RSA-2048',
    async () => {
      const ca = opensslCa('rsa-2048');
      return CertificateAuthority.fromPem(ca.cert, ca.key);
    },
  ],
];

for (const [name, makeCa] of cases) {
  t.test(`${name}: leaves for names and IP literals verify, independently of our code`, async (t) => {
    const ca = await makeCa();
    const caCert = new X509Certificate(ca.certPem);
    for (const [host, san] of [
      ['registry.example.com', 'DNS:registry.example.com'],
      ['10.1.2.3', 'IP Address:10.1.2.3'],
      ['2001:db8::1', 'IP Address:2001:DB8:0:0:0:0:0:1'],
      ['::ffff:10.1.2.3', 'IP Address:0:0:0:0:0:FFFF:A01:203'],
    ]) {
      const leaf = await ca.issueLeaf(host!);
      const cert = new X509Certificate(leaf.certChainPem);
      t.equal(cert.subjectAltName, san, `${host}: SAN`);
      t.ok(cert.verify(caCert.publicKey), `${host}: signed by the CA`);
      t.equal(cert.issuer, caCert.subject, `${host}: issuer is the CA's subject`);
      t.notOk(cert.ca, `${host}: not a CA`);
      t.ok(cert.checkPrivateKey(createPrivateKey(leaf.keyPem)), `${host}: the key matches`);
      t.ok(new Date(cert.validTo) <= ca.notAfter, `${host}: never outlives the CA`);
      const dir = makeTempDirSync('leaf');
      writeFileSync(join(dir, 'ca.pem'), ca.certPem);
      writeFileSync(join(dir, 'leaf.pem'), leaf.certChainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!);
      const verdict = execFileSync(
        'openssl',
        ['verify', '-purpose', 'sslserver', '-CAfile', 'ca.pem', 'leaf.pem'],
        { cwd: dir },
      ).toString();
      t.match(verdict, /leaf.pem: OK/, `${host}: openssl verifies the chain for TLS servers`);
    }
  });
}

t.test('the served chain holds the CA only when it is an intermediate the client may not hold', async (t) => {
  const certsIn = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  const minted = await CertificateAuthority.mint();
  t.equal(certsIn((await minted.issueLeaf('a.example')).certChainPem), 1, 'self-signed CA: leaf only');

  // A team root signs an intermediate; the sidecar gets the intermediate, build steps trust the root.
  const { pki, root } = opensslCa('ec-p256');
  const dir = pki.dir;
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  // The team root signs the intermediate.
  const pod = pki.intermediate('int', root, { subject: '/CN=Pod intermediate' });
  const intermediate = await CertificateAuthority.fromPem(pod.certPem, pod.keyPem);
  const chain = (await intermediate.issueLeaf('b.example')).certChainPem;
  t.equal(certsIn(chain), 2, 'intermediate CA: leaf then the intermediate');
  const [leaf, untrusted] = chain.split(/(?<=-----END CERTIFICATE-----\n)/);
  writeFileSync(join(dir, 'leaf.pem'), leaf!);
  writeFileSync(join(dir, 'chain.pem'), untrusted!);
  const verdict = run(
    'verify',
    '-purpose',
    'sslserver',
    '-CAfile',
    'ca.pem',
    '-untrusted',
    'chain.pem',
    'leaf.pem',
  );
  t.match(verdict.toString(), /leaf.pem: OK/, 'a client trusting only the root accepts the served chain');
});

t.test('a CA key that does not match its certificate is refused', async (t) => {
  const ca = opensslCa('ec-p256');
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ format: 'pem', type: 'pkcs8' })
    .toString();
  await t.rejects(CertificateAuthority.fromPem(ca.cert, other), {
    code: 'ERR_CA',
    message: /does not match/,
  });
  await t.rejects(CertificateAuthority.fromPem('not a cert', ca.key), { code: 'ERR_CA' });
});
