// An upstream that sends a valid response head and then breaks its framing (a malformed
// chunk-size line, a bad trailer) must not crash the proxy (issue 8, probe 2): the proxy had
// answered 502 into a response http-proxy was still writing, and ERR_STREAM_WRITE_AFTER_END
// ended the process. The exchange is recorded with its failure, never as a push or a pull.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import t, { type Test } from 'tap';
import { startLab } from '../support/lab.js';
import { MEDIA_TYPES } from '../support/manifest-types.js';
import { REGISTRY_HOSTNAME } from '../support/pki.js';
import { freshManifest, openThroughProxy, pushVerdict, writeManifestPut } from '../support/raw-push.js';
import { RegistryClient } from '../support/registry-client.js';

const lab = await startLab({ name: 'misbehaves', teardown: (fn) => t.teardown(fn), registries: ['open'] });
const registry = lab.registry('open');
const proxy = lab.proxy();

/** Bodies that break off: a valid first chunk, then the fault, in one write (so it is buffered). */
const BROKEN_BODIES = {
  'chunk-size': '3\r\nabc\r\nZZZ\r\n',
  trailer: '3\r\nabc\r\n0\r\nBad Trailer\r\n\r\n',
} as const;
type Fault = keyof typeof BROKEN_BODIES;

/** A real TLS server (the lab's registry certificate) that reads one request and answers it broken. */
const liar = createServer({ cert: lab.ca.serverCertPem, key: lab.ca.serverKeyPem }, (socket: TLSSocket) => {
  let received = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const headEnd = received.indexOf('\r\n\r\n');
    if (headEnd === -1) return;
    const head = received.subarray(0, headEnd).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (received.length < headEnd + 4 + length) return;
    const [method, path = ''] = head.split(' ');
    const fault: Fault = path.includes('trailer') ? 'trailer' : 'chunk-size';
    const status = method === 'PUT' ? '201 Created' : '200 OK';
    socket.write(
      `HTTP/1.1 ${status}\r\nTransfer-Encoding: chunked\r\nDocker-Distribution-Api-Version: registry/2.0\r\n\r\n${BROKEN_BODIES[fault]}`,
    );
  });
});
liar.listen(0, '127.0.0.1');
await once(liar, 'listening');
t.teardown(() => liar.close());
const liarHost = `${REGISTRY_HOSTNAME}:${(liar.address() as AddressInfo).port}`;

/** Sends what `send` writes on a fresh session and waits until the proxy closes it; returns what came back. */
async function exchangeWithLiar(
  send: (session: Awaited<ReturnType<typeof openThroughProxy>>) => Promise<void>,
) {
  const session = await openThroughProxy(proxy, liarHost);
  const chunks: Buffer[] = [];
  session.tls.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = once(session.tls, 'close');
  await send(session);
  await closed;
  return Buffer.concat(chunks).toString('latin1');
}

async function stillServes(t: Test): Promise<void> {
  t.equal((await proxy.control('/readyz')).status, 200, 'the proxy is up');
  const client = new RegistryClient({
    host: registry.host,
    ca: proxy.trust.caPem,
    proxy: { url: proxy.url },
  });
  t.equal((await client.request({ path: '/v2/' })).status, 200, 'and serves the next request');
}

async function protocolErrors(): Promise<number> {
  const match = /provenance_proxy_upstream_errors_total\{cause="protocol"\} (\d+)/.exec(
    await proxy.metrics(),
  );
  return Number(match?.[1] ?? 0);
}

for (const fault of Object.keys(BROKEN_BODIES) as Fault[]) {
  t.test(`manifest PUT answered 201, then a broken ${fault}: outcome unknown, not a push`, async (t) => {
    const before = await protocolErrors();
    // The digest is what counts; the lying upstream never stores anything.
    const manifest = { ...(await freshManifest(registry, `misbehave/put-${fault}`)), tag: `v-${fault}` };
    const answer = await exchangeWithLiar((session) => writeManifestPut(session, liarHost, manifest));
    t.notMatch(answer, /^HTTP\/1.1 502/, 'no 502 written over the upstream response');
    await stillServes(t);
    const verdict = await pushVerdict(proxy, registry, manifest);
    t.notOk(verdict.pushed, 'a 201 that broke off is not recorded as a push');
    t.ok(verdict.outcomeUnknown, 'it is recorded as push_outcome_unknown');
    t.match(verdict.unknownDetail, /upstream_protocol/, 'naming the failure');
    t.ok(verdict.inStatement.anomaly, 'in the statement too');
    t.ok((await protocolErrors()) > before, 'counted as an upstream protocol error');
  });

  t.test(`blob GET answered 200, then a broken ${fault}: cut, not recorded as a pull`, async (t) => {
    const before = await protocolErrors();
    const digest = `sha256:${createHash('sha256').update(`blob-${fault}`).digest('hex')}`;
    const answer = await exchangeWithLiar(async (session) => {
      session.tls.write(
        `GET /v2/misbehave/get-${fault}/blobs/${digest} HTTP/1.1\r\nHost: ${liarHost}\r\nAccept: ${MEDIA_TYPES.ociManifest}\r\n\r\n`,
      );
    });
    t.notMatch(answer, /0\r\n\r\n$/, 'the client sees a cut body, never a complete short one');
    await stillServes(t);
    t.ok((await protocolErrors()) > before, 'counted as an upstream protocol error');
    await lab.settle();
    const statement = await proxy.provenance();
    const hex = digest.replace(/^sha256:/, '');
    t.notOk(
      (statement.predicate.buildDefinition.resolvedDependencies ?? []).some((d) => d.digest?.sha256 === hex),
      'the broken blob is not an input of the build',
    );
  });
}
