import net from 'node:net';
import t from 'tap';
import { captureClientHello } from '../support/client-hello.js';
import { connectTunnel, tlsThroughProxy } from '../support/clients.js';
import { dribble } from '../support/dribble.js';
import { testPki } from '../support/pki.js';
import { startProxy } from '../support/proxy.js';
import { makeTempDir } from '../support/temp-dir.js';

// One byte every 100 ms: a 2 s header limit must cut each of these long before its last byte.
// The heads never end: a server that does not cut them holds the connection past the last byte.
const GAP_MS = 100;
const HEADERS_TIMEOUT = '2s';

t.test('slowloris: a dribbling client is cut at --headers-timeout, wherever it dribbles', async (t) => {
  const dir = await makeTempDir('slowloris');
  const proxy = await startProxy({
    dir: dir.path,
    upstreamCaPath: testPki().caPath,
    extraArgs: ['--headers-timeout', HEADERS_TIMEOUT],
  });
  t.teardown(async () => {
    await proxy.stop();
    await dir.remove();
  });
  const proxyPort = Number(new URL(proxy.url).port);
  const slowHead = (target: string, host: string) =>
    Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nX-Slow: ${'a'.repeat(80)}\r\n`);

  t.test('inside intercepted TLS: the request head is answered 408 and closed', async (t) => {
    const tlsSocket = await tlsThroughProxy(proxyPort, 'localhost', 9, proxy.trust.caPem);
    const outcome = await dribble(tlsSocket, slowHead('/slow', 'localhost:9'), GAP_MS);
    t.ok(outcome.closed, `closed after ${outcome.bytesSent} bytes, not held`);
    t.match(outcome.answer, /^HTTP\/1.1 408 /, 'answered 408');
  });

  t.test('inside intercepted TLS: a client that never completes a request is closed', async (t) => {
    const tlsSocket = await tlsThroughProxy(proxyPort, 'localhost', 9, proxy.trust.caPem);
    // One byte, then silence far past the limit.
    const outcome = await dribble(tlsSocket, Buffer.from('GE'), 40 * GAP_MS);
    t.ok(outcome.closed, `closed after ${outcome.bytesSent} bytes, not held`);
  });

  t.test('inside the TLS handshake: a ClientHello dribbled after CONNECT is closed', async (t) => {
    const hello = await captureClientHello('localhost');
    const { socket, status } = await connectTunnel(proxyPort, 'localhost:9');
    t.equal(status, 200, 'CONNECT accepted');
    const outcome = await dribble(socket, hello, GAP_MS);
    t.ok(outcome.closed, `closed after ${outcome.bytesSent} of ${hello.length} bytes, not held`);
    t.equal(outcome.answer, '', 'nothing is answered in clear text inside the tunnel');
  });

  t.test('after CONNECT, a client that never starts its handshake is closed', async (t) => {
    const { socket } = await connectTunnel(proxyPort, 'localhost:9');
    // One byte of a handshake record, then nothing: the bounded loop only waits for the close.
    const outcome = await dribble(socket, Buffer.of(0x16, 0x03, 0x01, 0x00, 0x00), 20 * GAP_MS);
    t.ok(outcome.closed, `closed after ${outcome.bytesSent} bytes, not held`);
  });

  t.test('on the plain port: the request head is answered 408 and closed', async (t) => {
    const socket = net.connect(proxyPort, '127.0.0.1');
    const outcome = await dribble(socket, slowHead('http://127.0.0.1:9/slow', '127.0.0.1:9'), GAP_MS);
    t.ok(outcome.closed, `closed after ${outcome.bytesSent} bytes, not held`);
    t.match(outcome.answer, /^HTTP\/1.1 408 /, 'answered 408');
  });

  t.test('every cut is counted', async (t) => {
    const metrics = await proxy.metrics();
    t.match(metrics, /provenance_proxy_client_errors_total\{cause="header_timeout"\} 3/);
    t.match(
      metrics,
      /provenance_proxy_tls_handshakes_total\{side="client",result="failed",cause="handshake_timeout"\} 2/,
    );
  });
});
