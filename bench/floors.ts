/**
 * What any TLS-intercepting, hashing relay must spend on this machine, measured
 * in the same run as the proxy so the comparison survives a noisy machine:
 *
 * - the crypto floor: sha256 of every byte plus TLS record decryption on one leg
 *   and encryption on the other, as `openssl speed` measures them;
 * - a C relay: socat terminating TLS and opening verified upstream TLS, no
 *   hashing, no HTTP parsing (skipped with a note when socat is not installed).
 *
 * Never used outside bench/.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCommand } from '../test/support/run-command.js';

/**
 * CPU seconds per GiB for sha256 and for AES-256-GCM (TLS 1.3's default suite) on 16 KiB
 * blocks, TLS's largest record, from `openssl speed`: the primitives' own cost, without any
 * buffer handling around them.
 */
export function cryptoFloor(): { sha256: number; aesGcm: number } {
  return { sha256: secondsPerGiB('sha256'), aesGcm: secondsPerGiB('aes-256-gcm') };
}

function secondsPerGiB(algorithm: string): number {
  const out = execFileSync('openssl', ['speed', '-seconds', '1', '-bytes', '16384', '-evp', algorithm], {
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  // The last line reads e.g. "AES-256-GCM    2698990.93k": thousands of bytes per second.
  const m = /([\d.]+)k\s*$/.exec(out.trim());
  if (!m) throw new Error(`openssl speed ${algorithm}: no figure in ${out.slice(-200)}`);
  return 1024 ** 3 / (Number(m[1]) * 1000);
}

export function hasSocat(): boolean {
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * One socat process relaying one client connection to `localhost:originPort`, TLS on
 * both sides, upstream verified against `caPath`. Its CPU (user+system, from the
 * shell's `time`) is known once the connection is over.
 */
export async function startSocatRelay(
  work: string,
  pki: { key: string; cert: string; caPath: string },
  originPort: number,
): Promise<{ port: number; cpuSeconds: Promise<number> }> {
  const certFile = join(work, 'socat-leaf.pem');
  const keyFile = join(work, 'socat-leaf.key');
  writeFileSync(certFile, pki.cert);
  writeFileSync(keyFile, pki.key, { mode: 0o600 });
  const script =
    'TIMEFORMAT="cpu %3U %3S"; time socat -d -d -b 65536 ' +
    `OPENSSL-LISTEN:0,bind=127.0.0.1,cert=${certFile},key=${keyFile},verify=0 ` +
    `OPENSSL:localhost:${originPort},cafile=${pki.caPath},verify=1`;
  const relay = startCommand('bash', ['-c', script], { timeoutMs: null });
  const cpuSeconds = relay.done.then(({ stderr }) => {
    const m = /cpu (\d+\.\d+) (\d+\.\d+)/.exec(stderr);
    if (m) return Number(m[1]) + Number(m[2]);
    throw new Error(`socat relay ended without its CPU time: ${stderr.slice(-400)}`);
  });
  // Handled here so a relay that never listened does not also surface as an unhandled rejection.
  cpuSeconds.catch(() => {});
  const port = Number((await relay.waitForOutput(/listening on AF=2 127\.0\.0\.1:(\d+)/, 'stderr'))[1]);
  return { port, cpuSeconds };
}
