import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import t from 'tap';
import { rawAnswer, TUNNEL_ESTABLISHED } from '../../src/http/raw-answer.js';

/** Serves `answer` on a raw socket once and reads it with Node's HTTP client (llhttp, strict framing). */
async function readWithHttpClient(answer: Buffer): Promise<{
  status: number;
  reason: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  ended: boolean;
}> {
  const server = net.createServer((socket) => {
    socket.once('data', () => socket.end(answer));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent: false });
    const [response] = (await once(request, 'response')) as [http.IncomingMessage];
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    return {
      status: response.statusCode ?? 0,
      reason: response.statusMessage ?? '',
      headers: response.headers,
      body: Buffer.concat(chunks),
      ended: response.complete,
    };
  } finally {
    server.close();
  }
}

t.test(
  'writes the exact bytes: status line, headers in order, Content-Length, Connection: close',
  async (t) => {
    const answer = rawAnswer(403, {
      headers: { 'Content-Type': 'text/plain', 'x-provenance-proxy-error': 'egress_refused' },
      body: 'no\n',
    });
    t.equal(
      answer.toString('latin1'),
      'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nx-provenance-proxy-error: egress_refused\r\n' +
        'Content-Length: 3\r\nConnection: close\r\n\r\nno\n',
    );
    t.equal(
      rawAnswer(400).toString(),
      'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    t.match(rawAnswer(431).toString(), /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    t.match(rawAnswer(200, { reason: 'Fine' }).toString(), /^HTTP\/1\.1 200 Fine\r\n/);
    t.equal(
      TUNNEL_ESTABLISHED,
      'HTTP/1.1 200 Connection Established\r\n\r\n',
      'a tunnel answer has no framing',
    );
  },
);

t.test('a real HTTP client reads the whole body, counted in bytes, and nothing after it', async (t) => {
  const body = 'provenance-proxy: égress to bücher.test refused — ✓\n';
  t.not(Buffer.byteLength(body), body.length, 'the body has multi-byte characters');
  const read = await readWithHttpClient(
    rawAnswer(503, { headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': 1 }, body }),
  );
  t.equal(read.status, 503);
  t.equal(read.reason, 'Service Unavailable');
  t.equal(read.headers['content-length'], String(Buffer.byteLength(body)));
  t.equal(read.headers['retry-after'], '1');
  t.equal(read.headers.connection, 'close');
  t.equal(read.body.toString('utf8'), body);
  t.ok(read.ended, 'the client saw a complete message');
});

t.test('an empty answer is a complete message, not one the client waits on', async (t) => {
  const read = await readWithHttpClient(rawAnswer(400));
  t.equal(read.status, 400);
  t.equal(read.body.length, 0);
  t.ok(read.ended);
});
