import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { agentThroughProxy, connectTunnel, curl, tlsThroughProxy } from '../support/clients.js';
import { testPki } from '../support/pki.js';
import { makeTempDirSync } from '../support/temp-dir.js';
import { startOrigin } from './support/origin.js';
import { startTestProxy } from './support/proxy-harness.js';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MiB = 1024 * 1024;

t.test('intercepted HTTPS through the real proxy', async (t) => {
  const proxy = await startTestProxy();
  const origin = await startOrigin();
  t.teardown(async () => {
    await origin.close();
    await proxy.close();
  });
  const curlProxy = ['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath];

  t.test('small GET, PUT and POST: client, origin and event agree on every digest', async (t) => {
    for (const [method, body] of [
      ['GET', ''],
      ['PUT', 'put body'],
      ['POST', 'a post body with some bytes'],
    ] as const) {
      const args = [...curlProxy, '-X', method, `${origin.url}/small/${method}`];
      if (body) args.push('--data-binary', '@-');
      const res = await curl(args, body);
      t.equal(res.code, 0, `${method} curl exit code (${res.stderr})`);
      const e = await proxy.exchange((x) => x.target === `/small/${method}`);
      t.equal(e.status, 200);
      t.equal(e.scheme, 'https');
      t.equal(e.authority, `localhost:${origin.port}`);
      t.equal(e.request.sha256, sha256(body), `${method} request digest is sha256 of what was sent`);
      t.equal(e.request.size, body.length);
      t.equal(
        e.response.sha256,
        sha256(res.stdout),
        `${method} response digest is sha256 of what the client got`,
      );
      t.same(e.request.captured?.toString(), body, 'small bodies are captured when the plan asks');
      t.equal(e.failure, null);
    }
  });

  t.test('256 MiB upload streams through with the right digest (Content-Length, curl)', async (t) => {
    const dir = makeTempDirSync('big');
    const file = join(dir, 'big.bin');
    const hash = createHash('sha256');
    const out = createWriteStream(file);
    for (let i = 0; i < 256; i++) {
      const chunk = randomBytes(MiB);
      hash.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const sent = `sha256:${hash.digest('hex')}`;
    const res = await curl([...curlProxy, '-X', 'PUT', '-T', file, `${origin.url}/big-upload`]);
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout.toString(), `PUT ${256 * MiB} ${sent}`, 'the origin received exactly the bytes');
    const e = await proxy.exchange((x) => x.target === '/big-upload');
    t.equal(e.request.size, 256 * MiB);
    t.equal(e.request.sha256, sent);
    t.equal(e.request.captured, null, 'a body over the capture limit is not kept');
    t.equal(e.request.captureOverflow, true);
  });

  t.test('chunked upload and keep-alive reuse over one tunnel (Node http client)', async (t) => {
    const agent = agentThroughProxy(proxy.proxyPort, proxy.caPem, true);
    t.teardown(() => agent.destroy());
    const send = async (path: string, chunks: Buffer[]) => {
      const req = http.request({ host: 'localhost', port: origin.port, method: 'POST', path, agent });
      const response = once(req, 'response');
      for (const c of chunks) req.write(c);
      req.end();
      const [res] = (await response) as [http.IncomingMessage];
      const body: Buffer[] = [];
      for await (const c of res) body.push(c as Buffer);
      return { res, body: Buffer.concat(body) };
    };
    const chunks = [randomBytes(1000), randomBytes(70_000), randomBytes(5)];
    const first = await send('/chunked-1', chunks);
    const second = await send('/chunked-2', [Buffer.from('again')]);
    t.equal(first.res.statusCode, 200);
    t.equal(second.res.statusCode, 200);
    const e1 = await proxy.exchange((x) => x.target === '/chunked-1');
    const e2 = await proxy.exchange((x) => x.target === '/chunked-2');
    t.equal(e1.requestHeaders['transfer-encoding'], 'chunked', 'the upload was chunked');
    t.equal(e1.request.sha256, sha256(Buffer.concat(chunks)));
    t.equal(e2.request.sha256, sha256('again'));
    t.equal(e1.connectionId, e2.connectionId, 'both requests used one client tunnel');
    const [r1, r2] = [
      origin.received.find((r) => r.url === '/chunked-1'),
      origin.received.find((r) => r.url === '/chunked-2'),
    ];
    t.equal(r1?.remotePort, r2?.remotePort, 'and one upstream connection, kept alive');
  });

  t.test('Expect: 100-continue gets its 100 and the body goes through', async (t) => {
    const body = randomBytes(300_000);
    const res = await curl(
      [...curlProxy, '-v', '-H', 'Expect: 100-continue', '--data-binary', '@-', `${origin.url}/continue`],
      body,
    );
    t.equal(res.code, 0, res.stderr);
    t.match(res.stderr, /< HTTP\/1.1 100 Continue/);
    const e = await proxy.exchange((x) => x.target === '/continue');
    t.equal(e.status, 200);
    t.equal(e.request.sha256, sha256(body));
  });

  t.test('HEAD, 204 and 304 pass through without bodies', async (t) => {
    const special = await startOrigin({
      handler: (req, res, done) => {
        void done.then(() => {
          if (req.url === '/head') {
            res.writeHead(200, { 'content-length': '12345', 'content-type': 'application/octet-stream' });
            res.end();
          } else if (req.url === '/no-content') {
            res.writeHead(204);
            res.end();
          } else {
            res.writeHead(304, { etag: '"abc"' });
            res.end();
          }
        });
      },
    });
    t.teardown(() => special.close());
    const head = await curl([...curlProxy, '-I', `${special.url}/head`]);
    t.equal(head.code, 0, head.stderr);
    t.match(head.stdout.toString(), /content-length: 12345/i);
    const none = await curl([
      ...curlProxy,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${special.url}/no-content`,
    ]);
    t.equal(none.stdout.toString(), '204');
    const notModified = await curl([
      ...curlProxy,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      'If-None-Match: "abc"',
      `${special.url}/nm`,
    ]);
    t.equal(notModified.stdout.toString(), '304');
    for (const [path, status] of [
      ['/head', 200],
      ['/no-content', 204],
      ['/nm', 304],
    ] as const) {
      const e = await proxy.exchange((x) => x.target === path);
      t.equal(e.status, status);
      t.equal(e.response.size, 0, `${path} has no body`);
      t.equal(e.failure, null);
    }
  });

  t.test('256 MiB download streams with the right digest', async (t) => {
    const big = await startOrigin({
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        let i = 0;
        const src = new Readable({
          read() {
            this.push(i++ < 256 ? randomBytes(MiB) : null);
          },
        });
        src.pipe(res);
      },
    });
    t.teardown(() => big.close());
    const s = await tlsThroughProxy(proxy.proxyPort, 'localhost', big.port, proxy.caPem);
    t.equal(s.alpnProtocol, 'http/1.1', 'only http/1.1 is offered even when the client asks for h2');
    const agent = new http.Agent();
    // biome-ignore lint/suspicious/noExplicitAny: hand the already-open TLS socket to http
    (agent as any).createConnection = () => s;
    const req = http.get({ host: 'localhost', port: big.port, path: '/big-download', agent });
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    const hash = createHash('sha256');
    let size = 0;
    for await (const c of res) {
      hash.update(c as Buffer);
      size += (c as Buffer).length;
    }
    const e = await proxy.exchange((x) => x.target === '/big-download');
    t.equal(size, 256 * MiB);
    t.equal(e.response.size, size);
    t.equal(e.response.sha256, `sha256:${hash.digest('hex')}`);
    s.destroy();
  });

  t.test('websocket upgrade passes through', async (t) => {
    const pki = testPki();
    const https = await import('node:https');
    const server = https.createServer({ key: pki.goodKey, cert: pki.goodCert });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m}`)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    t.teardown(() => {
      wss.close();
      server.close();
      server.closeAllConnections();
    });
    const socket = await tlsThroughProxy(proxy.proxyPort, 'localhost', port, proxy.caPem);
    const ws = new WebSocket(`wss://localhost:${port}/ws`, { createConnection: () => socket } as never);
    await once(ws, 'open');
    ws.send('hello');
    const [message] = await once(ws, 'message');
    t.equal(String(message), 'echo:hello');
    ws.close();
    const e = await proxy.exchange((x) => x.target === '/ws');
    t.equal(e.status, 101);
  });

  t.test('IP-literal CONNECT gets a leaf with an IP SAN', async (t) => {
    const res = await curl([...curlProxy, `https://127.0.0.1:${origin.port}/by-ip`]);
    t.equal(res.code, 0, res.stderr);
    const e = await proxy.exchange((x) => x.target === '/by-ip');
    t.equal(e.authority, `127.0.0.1:${origin.port}`);
  });

  t.test('secrets never reach the logs', async (t) => {
    const secret = `s3cr3t-${randomBytes(8).toString('hex')}`;
    const res = await curl([
      ...curlProxy,
      '-H',
      `Authorization: Bearer ${secret}`,
      '-H',
      `Cookie: session=${secret}`,
      '--proxy-user',
      `user:${secret}`,
      `${origin.url}/secret?token=${secret}&x=1`,
    ]);
    t.equal(res.code, 0, res.stderr);
    const e = await proxy.exchange((x) => x.target.startsWith('/secret'));
    t.equal(e.requestHeaders.authorization, undefined, 'Authorization is not in the exchange record');
    t.equal(e.requestHeaders.cookie, undefined);
    const plain = await curl([
      '--proxy',
      proxy.proxyUrl,
      '--proxy-user',
      `u:${secret}`,
      '-H',
      `Authorization: Basic ${secret}`,
      `http://127.0.0.1:1/x?access_token=${secret}`,
    ]);
    t.equal(plain.code, 0);
    await proxy.exchange((x) => x.target.includes('access_token'));
    t.ok(proxy.logLines.length > 0, 'the proxy did log');
    t.notOk(
      proxy.logLines.some((l) => l.includes(secret)),
      'no log line contains the secret',
    );
  });
});

t.test('failures: clear answers, nothing crashes', async (t) => {
  const proxy = await startTestProxy();
  t.teardown(() => proxy.close());
  const curlProxy = ['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath];

  t.test('untrusted upstream certificate → 502 naming the cause', async (t) => {
    const bad = await startOrigin({ cert: 'untrusted' });
    t.teardown(() => bad.close());
    const res = await curl([...curlProxy, '-w', '\n%{http_code}', `${bad.url}/x`]);
    t.match(res.stdout.toString(), /not signed by a trusted CA[\s\S]*\n502$/);
    const e = await proxy.exchange((x) => x.authority === `localhost:${bad.port}`);
    t.equal(e.failure?.code, 'upstream_tls_untrusted');
    t.equal(e.synthesized, true);
    t.equal(bad.received.length, 0, 'nothing reached the untrusted server');
  });

  t.test('wrong upstream hostname → 502 naming the cause', async (t) => {
    const wrong = await startOrigin({ cert: 'wrong-host' });
    t.teardown(() => wrong.close());
    const res = await curl([...curlProxy, '-w', '\n%{http_code}', `${wrong.url}/x`]);
    t.match(res.stdout.toString(), /does not name this host[\s\S]*\n502$/);
    const metrics = await (await fetch(`${proxy.controlUrl}/metrics`)).text();
    t.match(metrics, /provenance_proxy_upstream_errors_total\{cause="tls_hostname"\} 1/);
    t.match(
      metrics,
      /provenance_proxy_tls_handshakes_total\{side="upstream",result="failed",cause="tls_hostname"\} 1/,
    );
  });

  t.test('unreachable and unknown upstreams → 502 with the cause', async (t) => {
    const refused = await curl(['--proxy', proxy.proxyUrl, '-w', '\n%{http_code}', 'http://127.0.0.1:1/x']);
    t.match(refused.stdout.toString(), /refused the connection[\s\S]*502$/);
    const dns = await curl([...curlProxy, '-w', '\n%{http_code}', 'https://no-such-host.invalid:443/x']);
    t.match(dns.stdout.toString(), /does not resolve[\s\S]*502$/);
  });

  t.test('upstream reset mid-body: the client sees a cut transfer, the event says so', async (t) => {
    const pki = testPki();
    const liar = tls.createServer({ key: pki.goodKey, cert: pki.goodCert }, (s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
        s.write(Buffer.alloc(1000, 7), () => s.destroy());
      });
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    const port = (liar.address() as net.AddressInfo).port;
    t.teardown(() => liar.close());
    const res = await curl([...curlProxy, `https://localhost:${port}/cut`]);
    t.equal(res.code, 18, 'curl reports a partial transfer');
    const e = await proxy.exchange((x) => x.target === '/cut');
    t.equal(e.failure?.code, 'upstream_reset');
    t.equal(e.response.complete, false);
    t.equal(e.response.sha256, sha256(res.stdout), 'the digest covers exactly what passed');
  });

  t.test('client abort mid-upload: recorded as aborted, origin sees it cut', async (t) => {
    let bodyStarted: () => void = () => {};
    const firstBytes = new Promise<void>((resolve) => {
      bodyStarted = resolve;
    });
    const origin = await startOrigin({ handler: (req) => req.once('data', () => bodyStarted()) });
    t.teardown(() => origin.close());
    const s = await tlsThroughProxy(proxy.proxyPort, 'localhost', origin.port, proxy.caPem);
    s.write(`PUT /abort HTTP/1.1\r\nHost: localhost:${origin.port}\r\nContent-Length: 1000000\r\n\r\n`);
    s.write(Buffer.alloc(50_000, 1));
    const arrived = origin.nextRequest();
    // Cut the client once the origin is receiving the body: a real mid-upload abort.
    await firstBytes;
    s.destroy();
    const r = await arrived;
    t.equal(r.complete, false, 'the origin saw a cut request');
    const e = await proxy.exchange((x) => x.target === '/abort');
    t.equal(e.failure?.code, 'client_aborted');
    t.equal(e.request.complete, false);
    t.ok(e.request.size <= 50_000);
  });

  t.test('tunnelled host: relayed blind, reported as unobserved egress', async (t) => {
    const origin = await startOrigin();
    const blindProxy = await startTestProxy(['--tunnel', 'localhost']);
    t.teardown(async () => {
      await origin.close();
      await blindProxy.close();
    });
    const pki = testPki();
    // The client trusts only the origin's CA: it succeeds only if the proxy did not intercept.
    const res = await curl(['--proxy', blindProxy.proxyUrl, '--cacert', pki.caPath, `${origin.url}/t`]);
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout.toString(), /^GET 0 /, 'the origin answered through the tunnel');
    const record = await blindProxy.tunnel((r) => r.authority === `localhost:${origin.port}`);
    t.ok(record.bytesFromClient > 0, 'bytes from the client are counted');
    t.ok(record.bytesFromUpstream > 0, 'bytes from the upstream are counted');
    t.equal(record.failure, null);
    t.equal(blindProxy.exchanges.length, 0, 'nothing inside a tunnel is observed as an exchange');
    const metrics = await (await fetch(`${blindProxy.controlUrl}/metrics`)).text();
    t.match(metrics, /provenance_proxy_tunnels_total\{result="ok"\} 1/);
    // The same request through an intercepting proxy fails that origin-only trust.
    const intercepted = await curl([...curlProxy, '--cacert', pki.caPath, `${origin.url}/t`]);
    t.equal(intercepted.code, 60, 'an intercepting proxy presents its own leaf instead');
  });

  t.test('a client that stalls inside its request head is cut at the headers timeout', async (t) => {
    const strict = await startTestProxy(['--headers-timeout', '1s']);
    t.teardown(() => strict.close());
    const s = net.connect(strict.proxyPort, '127.0.0.1');
    s.write('GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n');
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    t.match(Buffer.concat(chunks).toString(), /^HTTP\/1.1 408/, 'answered 408 and closed');
    const metrics = await (await fetch(`${strict.controlUrl}/metrics`)).text();
    t.match(metrics, /provenance_proxy_client_errors_total\{cause="header_timeout"\} 1/);
  });

  t.test(
    'inside a tunnel, a Host that is not the CONNECT target is refused (421), never forwarded',
    async (t) => {
      const origin = await startOrigin();
      t.teardown(() => origin.close());
      const s = await tlsThroughProxy(proxy.proxyPort, 'localhost', origin.port, proxy.caPem);
      s.end(`GET /misdirected HTTP/1.1\r\nHost: elsewhere.test:${origin.port}\r\nConnection: close\r\n\r\n`);
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      t.match(Buffer.concat(chunks).toString(), /^HTTP\/1.1 421/);
      t.equal(origin.received.length, 0, 'nothing reached the upstream');
    },
  );

  t.test('a client reset on a pending plain-HTTP upgrade does not take the proxy down', async (t) => {
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    t.teardown(() => {
      silent.close();
    });
    const upstreamSeen = once(silent, 'connection') as Promise<[net.Socket]>;
    const s = net.connect(proxy.proxyPort, '127.0.0.1');
    s.write(
      `GET http://127.0.0.1:${silentPort}/ws HTTP/1.1\r\nHost: 127.0.0.1:${silentPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
    );
    const [upstreamSocket] = await upstreamSeen;
    t.teardown(() => {
      upstreamSocket.destroy();
    });
    s.resetAndDestroy();
    await once(s, 'close');
    const ok = await startOrigin();
    t.teardown(() => ok.close());
    const res = await curl(['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath, `${ok.url}/after-reset`]);
    t.equal(res.code, 0, 'the proxy still serves');
  });

  t.test('a client that leaves mid-response gets its upstream connection closed too', async (t) => {
    let upstreamClosed: Promise<unknown> = Promise.resolve();
    const origin = await startOrigin({
      handler: (_req, res) => {
        upstreamClosed = once(res, 'close');
        res.writeHead(200, { 'content-length': String(64 * MiB) });
        res.write(Buffer.alloc(MiB));
      },
    });
    t.teardown(() => origin.close());
    const s = await tlsThroughProxy(proxy.proxyPort, 'localhost', origin.port, proxy.caPem);
    s.write(`GET /big-and-slow HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`);
    await once(s, 'data');
    s.destroy();
    const e = await proxy.exchange((x) => x.target === '/big-and-slow');
    t.equal(e.failure?.code, 'client_aborted');
    await upstreamClosed;
    t.pass('the origin saw its connection closed');
  });

  t.test('malformed input: 400s, closed sockets, counted, and the proxy keeps serving', async (t) => {
    const raw = async (bytes: string | Buffer) => {
      const s = net.connect(proxy.proxyPort, '127.0.0.1');
      s.end(bytes);
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString();
    };
    t.match(await raw('GARBAGE\r\n\r\n'), /^HTTP\/1.1 400/);
    t.match(await raw('GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'), /^HTTP\/1.1 400/);
    t.match(await raw('GET /origin-form HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1.1 400[\s\S]*forward proxy/);
    t.match(await raw('CONNECT nonsense HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1.1 400/);
    // A TLS ClientHello on the plain port: closed without an answer.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]);
    t.equal(await raw(hello), '');
    // Garbage after CONNECT instead of a TLS handshake: closed.
    const { socket } = await connectTunnel(proxy.proxyPort, 'localhost:9');
    socket.end('this is not TLS\r\n');
    const after: Buffer[] = [];
    for await (const c of socket) after.push(c as Buffer);
    t.equal(Buffer.concat(after).length, 0);
    const metrics = await (await fetch(`${proxy.controlUrl}/metrics`)).text();
    t.match(metrics, /provenance_proxy_client_errors_total\{cause="bad_request"\} [1-9]/);
    t.match(metrics, /provenance_proxy_client_errors_total\{cause="tls_on_plain_port"\} 1/);
    t.match(metrics, /provenance_proxy_client_errors_total\{cause="not_tls_after_connect"\} 1/);
    const ok = await startOrigin();
    t.teardown(() => ok.close());
    const res = await curl(['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath, `${ok.url}/still-serving`]);
    t.equal(res.code, 0, 'the proxy still serves after all that');
  });
});

t.test('control server', async (t) => {
  const proxy = await startTestProxy();
  t.teardown(() => proxy.close());
  t.equal((await fetch(`${proxy.controlUrl}/healthz`)).status, 200);
  t.equal((await fetch(`${proxy.controlUrl}/readyz`)).status, 200);
  const ca = await (await fetch(`${proxy.controlUrl}/ca.pem`)).text();
  t.equal(ca, proxy.caPem);
  t.equal(readFileSync(proxy.caPath, 'utf8'), proxy.caPem, '--ca-cert-out holds the same certificate');
  t.notMatch(readFileSync(proxy.caPath, 'utf8'), /PRIVATE KEY/, 'and never a key');
  const metrics = await (await fetch(`${proxy.controlUrl}/metrics`)).text();
  for (const name of [
    'process_cpu_seconds_total',
    'provenance_proxy_requests_total',
    'provenance_proxy_bytes_total',
    'provenance_proxy_active_connections',
    'provenance_proxy_tls_handshakes_total',
    'provenance_proxy_leaf_cache_lookups_total',
    'provenance_proxy_upstream_errors_total',
    'provenance_proxy_request_duration_seconds',
  ]) {
    t.match(metrics, new RegExp(`# TYPE (provenance_proxy_)?${name.replace('provenance_proxy_', '')}`), name);
  }
  t.equal((await fetch(`${proxy.controlUrl}/nope`)).status, 404);
});
