/**
 * Why the CA signs ECDSA P-256 leaves from a DER template rather than with node-forge:
 * leaf issuance and TLS handshake cost, both variants side by side in one process.
 * (The @peculiar/x509 generator it was also compared with is gone from the dependencies;
 * its figures stay in docs/decisions.md.)
 *
 *   npm run bench:leaf
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import forge from 'node-forge';
import { CertificateAuthority } from '../src/tls/certificate-authority.js';
import { runChecked } from '../test/support/run-command.js';
import { fmt, median } from './lib.js';

const LEAVES = 100;
const HANDSHAKES = 300;

function cpuMs(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

async function cpuMsAsync(fn: () => Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

function forgeCa() {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  cert.setSubject([{ name: 'commonName', value: 'forge bench CA' }]);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([{ name: 'basicConstraints', cA: true }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const leafKeys = forge.pki.rsa.generateKeyPair(2048);
  return { keys, cert, leafKeys };
}

function forgeLeaf(ca: ReturnType<typeof forgeCa>, host: string) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = ca.leafKeys.publicKey;
  cert.serialNumber = `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  cert.setSubject([{ name: 'commonName', value: host }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 2, value: host }] }]);
  cert.sign(ca.keys.privateKey, forge.md.sha256.create());
  return {
    key: forge.pki.privateKeyToPem(ca.leafKeys.privateKey),
    cert: forge.pki.certificateToPem(cert),
    ca: forge.pki.certificateToPem(ca.cert),
  };
}

/**
 * Server-side CPU per full TLS handshake: the server (the proxy's role) runs here, the
 * clients in a child process, so only the server's work is counted.
 */
async function handshakeCpu(key: string, cert: string, ca: string): Promise<number> {
  const server = tls.createServer({ key, cert }, (s) => s.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const clientScript = `
    const tls = require('node:tls');
    (async () => {
      for (let i = 0; i < ${HANDSHAKES}; i++) {
        await new Promise((resolve, reject) => {
          const s = tls.connect({ port: ${port}, host: '127.0.0.1', servername: 'bench.test', ca: process.env.CA }, () => { s.destroy(); resolve(); });
          s.once('error', reject);
        });
      }
    })();`;
  const total = await cpuMsAsync(async () => {
    await runChecked(process.execPath, ['-e', clientScript], { env: { ...process.env, CA: ca } });
  });
  server.close();
  return total / HANDSHAKES;
}

async function main() {
  const fca = forgeCa();
  forgeLeaf(fca, 'warmup.test');
  const forgeTimes: number[] = [];
  for (let i = 0; i < LEAVES; i++) forgeTimes.push(cpuMs(() => forgeLeaf(fca, `h${i}.test`)));

  const xca = await CertificateAuthority.mint();
  await xca.issueLeaf('warmup.test');
  const templateTimes: number[] = [];
  for (let i = 0; i < LEAVES; i++)
    templateTimes.push(await cpuMsAsync(async () => void (await xca.issueLeaf(`h${i}.test`))));

  // What a new host costs the proxy in-process: the leaf and the TLS context made from it
  // (as tls/leaf-cache.ts does); the context's PEM parsing is OpenSSL's, not ours.
  const contextTimes: number[] = [];
  for (let i = 0; i < LEAVES; i++)
    contextTimes.push(
      await cpuMsAsync(async () => {
        const leaf = await xca.issueLeaf(`c${i}.test`);
        tls.createSecureContext({ key: leaf.keyPem, cert: leaf.certChainPem, minVersion: 'TLSv1.2' });
      }),
    );

  const f = forgeLeaf(fca, 'bench.test');
  const x = await xca.issueLeaf('bench.test');
  // A P-256 key with forge is impossible (no ECDSA), so the handshake comparison uses node's
  // own RSA-2048 vs P-256 keys, which is what the leaf key type decides.
  const rsaHandshake = await handshakeCpu(f.key, f.cert, f.ca);
  const ecHandshake = await handshakeCpu(x.keyPem, x.certChainPem, xca.certPem);

  const rows: [string, string][] = [
    ['node-forge RSA-2048 leaf, CPU per leaf (median)', `${fmt(median(forgeTimes))} ms`],
    ['ours: DER template + native ECDSA P-256 sign (median)', `${fmt(median(templateTimes))} ms`],
    ['ours: leaf + its TLS SecureContext, per new host (median)', `${fmt(median(contextTimes))} ms`],
    ['leaf issuance ratio (forge / ours)', `${fmt(median(forgeTimes) / median(templateTimes))}×`],
    ['proxy-side CPU per TLS handshake, RSA-2048 leaf', `${fmt(rsaHandshake)} ms`],
    ['proxy-side CPU per TLS handshake, ECDSA P-256 leaf', `${fmt(ecHandshake)} ms`],
    ['handshake ratio (RSA / ECDSA)', `${fmt(rsaHandshake / ecHandshake)}×`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(
    `\nleaf certificates, ${LEAVES} leaves / ${HANDSHAKES} handshakes each, node ${process.version}\n`,
  );
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exitCode = 1;
});
