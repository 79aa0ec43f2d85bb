// The forwarder keeps the upstream exchange as the unit of record (issue 8): a client that
// leaves after a whole state-changing request does not end the upstream exchange; anything
// else is cut at once; and a plan can hold the end of a request body until a later stage has
// made its write-ahead record, refusing the request when that fails.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import t, { type Test } from 'tap';
import type { BodyRecord, CompletedExchange } from '../../src/http/completed-exchange.js';
import { connectTunnel } from '../support/clients.js';
import { waitUntil } from '../support/wait-until.js';
import { type Origin, startOrigin } from './support/origin.js';
import { startTestProxy, type TestProxy } from './support/proxy-harness.js';

const AWAITING = 'awaiting the upstream answer for the record';
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function session(proxy: TestProxy, origin: Origin): Promise<{ raw: Socket; tls: TLSSocket }> {
  const { socket } = await connectTunnel(proxy.proxyPort, `localhost:${origin.port}`);
  socket.on('error', () => undefined);
  const secure = await new Promise<TLSSocket>((resolve) => {
    const s = tls.connect({ socket, servername: 'localhost', ca: proxy.caPem }, () => resolve(s));
  });
  secure.on('error', () => undefined);
  return { raw: socket, tls: secure };
}

function written(socket: TLSSocket, bytes: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(bytes, (e) => (e ? reject(e) : resolve())));
}

const put = (path: string, origin: Origin, body: Buffer, extra = '') =>
  `PUT ${path} HTTP/1.1\r\nHost: localhost:${origin.port}\r\nContent-Length: ${body.length}\r\n${extra}\r\n`;

/** An origin that answers 201 only when the test says so (after its client is gone). */
async function answeringOrigin(t: Test) {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const origin = await startOrigin({
    handler: (_req, res, received) => {
      void Promise.all([received, released]).then(() => {
        res.writeHead(201, { 'docker-content-digest': 'sha256:abc' });
        res.end();
      });
    },
  });
  t.teardown(() => origin.close());
  return { origin, release };
}

t.test('client leaves after the whole body', async (t) => {
  const proxy = await startTestProxy();
  t.teardown(() => proxy.close());

  for (const expect of [false, true]) {
    t.test(
      `RST before the answer${expect ? ' (Expect: 100-continue)' : ''}: the answer is recorded`,
      async (t) => {
        const { origin, release } = await answeringOrigin(t);
        const path = `/reset-${expect}`;
        const body = randomBytes(40_000);
        const s = await session(proxy, origin);
        if (expect) {
          await written(s.tls, put(path, origin, body, 'Expect: 100-continue\r\n'));
          const [continued] = (await once(s.tls, 'data')) as [Buffer];
          t.match(continued.toString(), /^HTTP\/1.1 100/);
          await written(s.tls, body);
        } else {
          await written(s.tls, Buffer.concat([Buffer.from(put(path, origin, body)), body]));
        }
        const arrived = await origin.nextRequest();
        t.equal(arrived.complete, true, 'the origin got the whole request');
        s.raw.resetAndDestroy();
        // The origin answers only once the proxy has seen its client go.
        await waitUntil(async () => proxy.logLines.some((l) => l.includes(path) && l.includes(AWAITING)), {
          what: 'the proxy to notice the client left',
          attempts: 100,
          intervalMs: 20,
        });
        release();
        const e = await proxy.exchange((x) => x.target === path);
        t.equal(e.status, 201, 'the status is what the upstream answered after the client left');
        t.equal(e.responseHeaders['docker-content-digest'], 'sha256:abc');
        t.equal(e.clientLeft, true);
        t.equal(e.requestRelayed, true);
        t.equal(e.request.sha256, sha256(body));
        t.equal(e.failure?.code, 'client_aborted');
      },
    );
  }
});

/** A proxy and an origin that never answers; `upstreamClosed` resolves when its connection closes. */
async function silentOrigin(t: Test, proxyArgs: string[]) {
  const proxy = await startTestProxy(proxyArgs);
  let closed: Promise<unknown> = Promise.resolve();
  const origin = await startOrigin({
    handler: (_req, res) => {
      closed = once(res, 'close');
    },
  });
  t.teardown(async () => {
    await origin.close();
    await proxy.close();
  });
  return { proxy, origin, upstreamClosed: () => closed };
}

t.test('an upstream silent after the client left is given up at --upstream-answer-wait', async (t) => {
  const { proxy, origin, upstreamClosed } = await silentOrigin(t, ['--upstream-answer-wait', '1s']);
  const body = Buffer.from('{"never":"answered"}');
  const s = await session(proxy, origin);
  await written(s.tls, Buffer.concat([Buffer.from(put('/silent', origin, body)), body]));
  await origin.nextRequest();
  s.raw.resetAndDestroy();
  const e = await proxy.exchange((x) => x.target === '/silent');
  t.equal(e.status, null);
  t.equal(e.failure?.code, 'upstream_no_answer');
  t.equal(e.requestRelayed, true, 'the request did go upstream whole: its outcome is unknown');
  await upstreamClosed();
  t.pass('and the upstream connection was closed');
});

t.test('a GET whose client leaves before any answer is cut at once, not awaited', async (t) => {
  const { proxy, origin, upstreamClosed } = await silentOrigin(t, ['--upstream-answer-wait', '300s']);
  const s = await session(proxy, origin);
  await written(s.tls, `GET /never HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`);
  await origin.nextRequest();
  s.raw.resetAndDestroy();
  const e = await proxy.exchange((x) => x.target === '/never');
  t.equal(e.status, null);
  t.equal(e.failure?.code, 'client_aborted');
  t.equal(e.clientLeft, true);
  await upstreamClosed();
  t.pass('the origin saw its connection closed');
});

t.test('a plan can hold the end of a request body until a later stage is ready', async (t) => {
  let gate: { body: BodyRecord; exchangeId: string; open: () => void; refuse: (e: Error) => void } | null =
    null;
  let called: () => void = () => {};
  const proxy = await startTestProxy([], (head) => ({
    captureRequestBytes: 0,
    captureResponseBytes: 0,
    continueRequestHash: null,
    ...(head.target.startsWith('/gated')
      ? {
          beforeRequestEnd: (body: BodyRecord, exchangeId: string) =>
            new Promise<void>((open, refuse) => {
              gate = { body, exchangeId, open, refuse };
              called();
            }),
        }
      : {}),
  }));
  const origin = await startOrigin();
  t.teardown(async () => {
    await origin.close();
    await proxy.close();
  });
  const waitForGate = () =>
    new Promise<NonNullable<typeof gate>>((resolve) => {
      called = () => resolve(gate!);
    });

  t.test('held, then opened: the upstream gets the end only then', async (t) => {
    const body = randomBytes(100_000);
    const s = await session(proxy, origin);
    const asked = waitForGate();
    const response = once(s.tls, 'data');
    await written(s.tls, Buffer.concat([Buffer.from(put('/gated-open', origin, body)), body]));
    const held = await asked;
    t.equal(held.body.sha256, sha256(body), 'the later stage sees the digest of the whole body');
    t.equal(held.body.complete, true);
    t.notOk(
      origin.received.some((r) => r.url === '/gated-open'),
      'the upstream cannot have the whole request while the gate holds',
    );
    held.open();
    const [answer] = (await response) as [Buffer];
    t.match(answer.toString(), /^HTTP\/1.1 200/);
    const r = origin.received.find((x) => x.url === '/gated-open');
    t.equal(r?.sha256, sha256(body), 'the upstream got every byte, in order');
    const e = await proxy.exchange((x: CompletedExchange) => x.target === '/gated-open');
    t.equal(e.id, held.exchangeId, 'the gate names its exchange');
    t.equal(e.requestRelayed, true);
    s.tls.destroy();
  });

  t.test('refused: 503 to the client, and the upstream never has the whole body', async (t) => {
    const body = randomBytes(100_000);
    const s = await session(proxy, origin);
    const asked = waitForGate();
    const chunks: Buffer[] = [];
    s.tls.on('data', (c: Buffer) => chunks.push(c));
    const closed = once(s.tls, 'close');
    await written(s.tls, Buffer.concat([Buffer.from(put('/gated-refused', origin, body)), body]));
    (await asked).refuse(new Error('journal unavailable'));
    await closed;
    t.match(
      Buffer.concat(chunks).toString(),
      /^HTTP\/1.1 503[\s\S]*x-provenance-proxy-error: record_unavailable/,
    );
    const r = await waitUntil(async () => origin.received.find((x) => x.url === '/gated-refused'), {
      what: 'the origin to see the refused request end',
      attempts: 100,
      intervalMs: 20,
    });
    t.equal(r.complete, false, 'the upstream saw a cut request');
    t.ok(r.size < body.length);
    const e = await proxy.exchange((x) => x.target === '/gated-refused');
    t.equal(e.failure?.code, 'record_unavailable');
    t.equal(e.synthesized, true);
    t.equal(e.requestRelayed, false);
  });
});
