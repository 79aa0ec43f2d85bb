import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import t from 'tap';
import { connectTunnel, curlStatusThroughProxy } from '../support/clients.js';
import { testPki } from '../support/pki.js';
import { startProxy } from '../support/proxy.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitUntil } from '../support/wait-until.js';
import { startOrigin } from './support/origin.js';

const CAP = 3;

/** Reads what the proxy answers until it closes the connection. */
async function answerUntilClose(socket: net.Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

function refusedCount(metrics: string): number {
  const match = /provenance_proxy_connections_refused_total\{cause="connection_limit"\} (\d+)/.exec(metrics);
  return match ? Number(match[1]) : 0;
}

t.test(
  '--max-connections: past the cap, connections get a 503 and close; below it they are served',
  async (t) => {
    const dir = await makeTempDir('conn-cap');
    const origin = await startOrigin();
    const proxy = await startProxy({
      dir: dir.path,
      upstreamCaPath: testPki().caPath,
      extraArgs: ['--max-connections', String(CAP)],
    });
    t.teardown(async () => {
      await proxy.stop();
      await origin.close();
      await dir.remove();
    });
    const proxyPort = Number(new URL(proxy.url).port);
    const curlThroughProxy = (url: string) => curlStatusThroughProxy(proxy, url);

    // Fill the cap with intercepted tunnels and a plain keep-alive connection: both kinds count.
    const holders: net.Socket[] = [];
    for (let i = 0; i < CAP - 1; i++) {
      const { socket, status } = await connectTunnel(proxyPort, `localhost:${origin.port}`);
      t.equal(status, 200, `tunnel ${i + 1} established`);
      holders.push(socket);
    }
    const plain = net.connect(proxyPort, '127.0.0.1');
    await once(plain, 'connect');
    holders.push(plain);
    await waitUntil(
      async () => /provenance_proxy_active_connections\{kind="proxy"\} 3/.test(await proxy.metrics()),
      {
        what: 'the proxy to count the held connections',
        attempts: 50,
        intervalMs: 100,
      },
    );

    t.test('a raw CONNECT past the cap reads a 503 with the error code, then the close', async (t) => {
      const socket = net.connect(proxyPort, '127.0.0.1');
      socket.write(`CONNECT localhost:${origin.port} HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`);
      const answer = await answerUntilClose(socket);
      t.match(answer, /^HTTP\/1.1 503 /, 'answered 503');
      t.match(answer, /\r\nx-provenance-proxy-error: connection_limit\r\n/i, 'with the stable error code');
      t.match(answer, /too many open connections/, 'and a short text saying why');
    });

    t.test('curl past the cap: plain HTTP sees the 503, CONNECT fails with it', async (t) => {
      const plainAnswer = await curlThroughProxy(`http://127.0.0.1:${origin.port}/`);
      t.equal(plainAnswer.stdout.toString(), '503', plainAnswer.stderr);
      const tunnelled = await curlThroughProxy(`${origin.url}/past-the-cap`);
      t.not(tunnelled.code, 0, 'the HTTPS request failed');
      t.match(tunnelled.stderr, /503/, 'curl reports the 503 to its CONNECT');
      t.equal(origin.received.length, 0, 'nothing past the cap reached the upstream');
    });

    t.test('the refusals are counted', async (t) => {
      t.equal(refusedCount(await proxy.metrics()), 3);
    });

    t.test('once the held connections close, new ones are served again', async (t) => {
      for (const socket of holders) socket.destroy();
      const served = await waitUntil(
        async () => {
          const result = await curlThroughProxy(`${origin.url}/after-the-cap`);
          return result.stdout.toString() === '200' ? result : undefined;
        },
        { what: 'a request through the proxy to be served again', attempts: 50, intervalMs: 100 },
      );
      t.equal(served.code, 0);
      t.equal(origin.received.at(-1)?.url, '/after-the-cap', 'the request reached the upstream');
      const log = await readFile(proxy.logPath, 'utf8');
      const warnings = log.split('\n').filter((line) => line.includes('connection limit reached'));
      t.equal(warnings.length, 1, 'one burst of refusals, one log line');
    });
  },
);
