// Issue 8, probe 10: CONNECT to 169.254.169.254, [::1], 0x7f.1 and to the control port itself
// were accepted. Each spelling is sent here, as CONNECT and as absolute-form, to the real proxy
// without --allow-destination; a loopback server counting accepted connections proves that no
// refused request reached it, and the refusals must be answered, counted, journaled and in the
// statement's egress.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { curl } from '../support/clients.js';
import { testPki } from '../support/pki.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { makeTempDir } from '../support/temp-dir.js';
import { assertCliBuilt } from './support/cli.js';

await assertCliBuilt();
const home = await makeTempDir('destinations');
t.teardown(() => home.remove());

/** Dual-stack (127.0.0.1 and ::1) server that counts the connections it accepts and answers HTTP. */
const accepted: string[] = [];
const origin = net.createServer((socket) => {
  accepted.push(String(socket.remoteAddress));
  socket.on('error', () => {});
  socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
});
await new Promise<void>((resolve) => origin.listen({ host: '::', port: 0, ipv6Only: false }, resolve));
t.teardown(() => origin.close());
const port = (origin.address() as net.AddressInfo).port;

/** A raw CONNECT; resolves with the status line, the error header and the body once the proxy closes. */
function rawConnect(
  proxy: RunningProxy,
  authority: string,
): Promise<{ status: number; code: string; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(proxy.url).port), '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      // A 200 keeps the tunnel open: the test closes it.
      if (/^HTTP\/1\.1 200/.test(text) && text.includes('\r\n\r\n')) socket.destroy();
    });
    socket.once('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const code = /x-provenance-proxy-error: (\S+)/i.exec(text)?.[1] ?? '';
      resolve({ status, code, text });
    });
    socket.once('error', reject);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

async function absolute(proxy: RunningProxy, url: string, extra: string[] = []) {
  const result = await curl([
    '-D',
    '-',
    '-o',
    '/dev/null',
    '--proxy',
    proxy.url,
    '--max-time',
    '20',
    ...extra,
    url,
  ]);
  const head = result.stdout.toString();
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
    code: /x-provenance-proxy-error: (\S+)/i.exec(head)?.[1] ?? '',
  };
}

t.test('refused without --allow-destination: every spelling, both request forms', async (t) => {
  const proxy = await startProxy({
    dir: join(home.path, 'closed'),
    upstreamCaPath: testPki().caPath,
    allowLoopback: false,
    extraArgs: ['--tunnel', 'tunnelled.test'],
  });
  t.teardown(() => proxy.stop());
  const proxyPort = Number(new URL(proxy.url).port);
  const controlPort = Number(new URL(proxy.controlUrl).port);
  const connects: [string, string][] = [
    ['169.254.169.254:80', 'link_local'],
    ['[fe80::1]:80', 'link_local'],
    [`[::1]:${port}`, 'loopback'],
    [`127.0.0.1:${port}`, 'loopback'],
    [`0x7f.1:${port}`, 'loopback'],
    [`2130706433:${port}`, 'loopback'],
    [`017700000001:${port}`, 'loopback'],
    [`[::ffff:127.0.0.1]:${port}`, 'loopback'],
    [`localhost:${port}`, 'loopback'],
    [`0.0.0.0:${port}`, 'unspecified'],
    [`[::]:${port}`, 'unspecified'],
    [`127.0.0.1:${controlPort}`, 'own_port'],
    [`localhost:${proxyPort}`, 'own_port'],
  ];
  for (const [authority, rule] of connects) {
    const answer = await rawConnect(proxy, authority);
    t.equal(answer.status, 403, `CONNECT ${authority}`);
    t.equal(answer.code, 'destination_refused', `CONNECT ${authority}: error code`);
    t.match(answer.text, `refused by rule ${rule}`, `CONNECT ${authority}: names the rule`);
  }
  const urls: [string, number][] = [
    ['http://169.254.169.254/latest/meta-data/', 403],
    [`http://0x7f.1:${port}/`, 403],
    [`http://2130706433:${port}/`, 403],
    [`http://[::1]:${port}/`, 403],
    [`http://[::ffff:127.0.0.1]:${port}/`, 403],
    // A name: resolved by the socket's lookup, refused there, before any connection.
    [`http://localhost:${port}/`, 403],
    [`http://127.0.0.1:${controlPort}/v1/provenance`, 403],
  ];
  for (const [url, status] of urls) {
    const answer = await absolute(proxy, url);
    t.equal(answer.status, status, url);
    t.equal(answer.code, 'destination_refused', `${url}: error code`);
  }
  // Upgrade requests take their own path (no agent): a literal and a name.
  const websocket = ['-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket'];
  for (const url of [`http://127.0.0.1:${port}/ws`, `http://localhost:${port}/ws`]) {
    const answer = await absolute(proxy, url, websocket);
    t.equal(answer.status, 403, `upgrade ${url}`);
    t.equal(answer.code, 'destination_refused', `upgrade ${url}: error code`);
  }
  const blind = await rawConnect(proxy, `tunnelled.test:${port}`);
  t.not(blind.status, 200, 'a blind tunnel host that does not resolve is not opened either');
  t.same(accepted, [], 'nothing reached the loopback server');

  const metrics = await proxy.metrics();
  const count = (rule: string) =>
    Number(
      new RegExp(`provenance_proxy_destinations_refused_total\\{rule="${rule}"\\} (\\d+)`).exec(metrics)?.[1],
    );
  t.ok(count('loopback') >= 14, 'loopback refusals counted');
  t.equal(count('link_local'), 3);
  t.equal(count('own_port'), 3);
  const statement = await proxy.provenance();
  const egress = JSON.stringify(statement.predicate.runDetails);
  const blocked = Number(/"blockedRequests":(\d+)/.exec(egress)?.[1]);
  t.equal(blocked, connects.length + urls.length + 2, 'the statement counts every refusal');
  const journal = readFileSync(join(proxy.dataDir, 'observations.jsonl'), 'utf8');
  t.match(journal, /"kind":"egress\.refused","data":\{[^}]*"address":"169\.254\.169\.254"/, 'journaled');
});

t.test('--allow-destination re-opens loopback, but never the proxy itself', async (t) => {
  const proxy = await startProxy({
    dir: join(home.path, 'open'),
    upstreamCaPath: testPki().caPath,
    allowLoopback: false,
    extraArgs: ['--allow-destination', '127.0.0.0/8', '--tunnel', '*'],
  });
  t.teardown(() => proxy.stop());
  const before = accepted.length;
  const open = await rawConnect(proxy, `0x7f.1:${port}`);
  t.equal(open.status, 200, 'CONNECT 0x7f.1 tunnels to 127.0.0.1');
  t.equal((await absolute(proxy, `http://127.0.0.1:${port}/`)).status, 200);
  t.equal(accepted.length, before + 2, 'both reached the server');
  t.equal((await rawConnect(proxy, `[::1]:${port}`)).status, 403, '::1 was not re-opened');
  const controlPort = new URL(proxy.controlUrl).port;
  t.equal((await rawConnect(proxy, `127.0.0.1:${controlPort}`)).code, 'destination_refused');
  t.equal(accepted.length, before + 2);
  t.match(
    JSON.stringify(await proxy.provenance()),
    '"allowDestination":["127.0.0.0/8"]',
    'the statement says what was re-opened',
  );
});
