import { spawn, spawnSync } from 'node:child_process';
import { waitUntil } from '../../support/wait-until.js';

/**
 * Listens for one UDP datagram on `port` (IPv4 or IPv6) in namespace `ns` (socat); returns once the socket
 * is bound. `received` resolves with what the datagram carried, or '' when none came within
 * `seconds`.
 */
export async function receiveOneDatagram(
  ns: string,
  port: number,
  family: 4 | 6 = 4,
  seconds = 3,
): Promise<{ received: Promise<string> }> {
  const child = spawn('ip', [
    'netns',
    'exec',
    ns,
    'timeout',
    String(seconds),
    'socat',
    '-u',
    `UDP${family}-RECV:${port}`,
    '-',
  ]);
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const received = new Promise<string>((resolve) => child.once('close', () => resolve(text)));
  await waitUntil(
    async () =>
      (
        spawnSync('ip', ['netns', 'exec', ns, 'ss', '-Huln', `sport = :${port}`], { encoding: 'utf8' })
          .stdout ?? ''
      ).trim().length > 0,
    { what: `a UDP listener on ${port} in ${ns}`, attempts: 50, intervalMs: 50 },
  );
  return { received };
}
