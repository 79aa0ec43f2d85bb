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
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
  const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let seen = '';
  let announcePort: (port: number) => void = () => {};
  const listening = new Promise<number>((resolve) => {
    announcePort = resolve;
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    const m = /listening on AF=2 127\.0\.0\.1:(\d+)/.exec(seen);
    if (m) announcePort(Number(m[1]));
  });
  const cpuSeconds = new Promise<number>((resolve, reject) => {
    child.once('close', () => {
      const m = /cpu (\d+\.\d+) (\d+\.\d+)/.exec(seen);
      if (m) resolve(Number(m[1]) + Number(m[2]));
      else reject(new Error(`socat relay ended without its CPU time: ${seen.slice(-400)}`));
    });
  });
  const port = await Promise.race([
    listening,
    cpuSeconds.then(() => {
      throw new Error(`socat exited before listening: ${seen.slice(-400)}`);
    }),
  ]);
  return { port, cpuSeconds };
}
