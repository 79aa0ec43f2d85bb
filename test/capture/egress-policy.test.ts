import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { startOrigin } from '../proxy/support/origin.js';
import { startTestProxy } from '../proxy/support/proxy-harness.js';
import { connectTunnel } from '../support/clients.js';

async function decisions(
  proxy: Awaited<ReturnType<typeof startTestProxy>>,
  verdict: string,
): Promise<number> {
  const text = await proxy.proxy.registry.metrics();
  // One line per capture path (explicit, connect, transparent-…): the sum.
  return text
    .split('\n')
    .filter(
      (l) =>
        l.startsWith('provenance_proxy_egress_policy_decisions_total') && l.includes(`verdict="${verdict}"`),
    )
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

t.test(
  'enforce: CONNECT and plain HTTP outside --egress-allow get a 403 before any byte goes upstream',
  async (t) => {
    const origin = await startOrigin();
    t.teardown(() => origin.close());
    const proxy = await startTestProxy(['--egress-policy', 'enforce', '--egress-allow', 'allowed.test']);
    t.teardown(() => proxy.close());
    const refused = await connectTunnel(proxy.proxyPort, `127.0.0.1:${origin.port}`);
    refused.socket.destroy();
    t.equal(refused.status, 403);
    const plain = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http
        .request(
          { host: '127.0.0.1', port: proxy.proxyPort, path: `http://127.0.0.1:${origin.port}/x` },
          resolve,
        )
        .once('error', reject)
        .end(),
    );
    plain.resume();
    t.equal(plain.statusCode, 403);
    t.equal(plain.headers['x-provenance-proxy-error'], 'egress_refused');
    t.equal(origin.connections(), 0, 'nothing reached the destination');
    t.equal(await decisions(proxy, 'refuse'), 2);
  },
);

t.test('audit: the same destination goes through and is flagged; open decides nothing', async (t) => {
  const origin = await startOrigin();
  t.teardown(() => origin.close());
  const audit = await startTestProxy(['--egress-policy', 'audit', '--egress-allow', 'allowed.test']);
  t.teardown(() => audit.close());
  const tunnel = await connectTunnel(audit.proxyPort, `127.0.0.1:${origin.port}`);
  tunnel.socket.destroy();
  t.equal(tunnel.status, 200);
  t.equal(await decisions(audit, 'flag'), 1);
  const open = await startTestProxy([]);
  t.teardown(() => open.close());
  const through = await connectTunnel(open.proxyPort, `127.0.0.1:${origin.port}`);
  through.socket.destroy();
  t.equal(through.status, 200);
  t.equal((await decisions(open, 'flag')) + (await decisions(open, 'refuse')), 0);
});

t.test('an unknown policy is a start-up error', async (t) => {
  await t.rejects(startTestProxy(['--egress-policy', 'strict']), { code: 'ERR_INVALID_OPTION' });
});

t.test(
  'enforce: an absolute-form Upgrade (WebSocket) is refused too, before any byte goes upstream',
  async (t) => {
    let connections = 0;
    const origin = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    t.teardown(() => origin.close());
    const port = (origin.address() as net.AddressInfo).port;
    const proxy = await startTestProxy(['--egress-policy', 'enforce', '--egress-allow', 'allowed.test']);
    t.teardown(() => proxy.close());
    const client = net.connect(proxy.proxyPort, '127.0.0.1');
    client.write(
      `GET http://127.0.0.1:${port}/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    let answer = '';
    for await (const chunk of client) answer += chunk.toString();
    t.match(answer, /^HTTP\/1\.1 403 .*x-provenance-proxy-error: egress_refused/s);
    t.equal(connections, 0, 'nothing reached the destination');
    t.equal(await decisions(proxy, 'refuse'), 1);
  },
);
