// Issue 8, probe 5, with real clients through the real proxy: curl's ranged blob reads from
// Debian's docker-registry, a blob read carrying token-protocol parameters, and a WebSocket
// (the `ws` client and server) whose bytes were once counted as 0. Each asserts what the signed
// statement's view (/v1/provenance) says.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import type { ResourceDescriptor } from '../../src/provenance/statement-types.js';
import { ChunkedPusher } from '../support/chunked-pusher.js';
import { curl, tlsThroughProxy } from '../support/clients.js';
import { startLab } from '../support/lab.js';
import { waitUntil } from '../support/wait-until.js';

const lab = await startLab({ name: 'hidden-inputs', teardown: (fn) => t.teardown(fn), registries: ['open'] });
const registry = lab.registry('open');
const proxy = lab.proxy();
const direct = new ChunkedPusher(registry.directClient());

async function seedBlob(repository: string, size: number): Promise<{ bytes: Buffer; digest: string }> {
  const bytes = randomBytes(size);
  const digest = await direct.uploadBlobInClosingPut(repository, bytes);
  return { bytes, digest };
}

function curlThroughProxy(extra: string[], url: string) {
  return curl(['--proxy', proxy.url, '--cacert', proxy.trust.bundlePath, '--fail', ...extra, url]);
}

async function dependency(uriSuffix: string): Promise<ResourceDescriptor> {
  await lab.settle();
  const statement = await proxy.provenance();
  const found = statement.predicate.buildDefinition.resolvedDependencies?.find((d) =>
    d.uri?.endsWith(uriSuffix),
  );
  if (found === undefined) throw new Error(`no dependency ends with ${uriSuffix}`);
  return found;
}

t.test('curl -r: a partial blob read is an input, named by its digest, never claimed verified', async (t) => {
  const { bytes, digest } = await seedBlob('hidden/range', 64 * 1024);
  const url = `https://${registry.host}/v2/hidden/range/blobs/${digest}`;
  const part = await curlThroughProxy(['-r', '100-4195'], url);
  t.equal(part.code, 0, part.stderr);
  t.same(part.stdout, bytes.subarray(100, 4196), 'the client got the range it asked for');
  t.match(await dependency(`hidden/range@${digest}`), {
    digest: { sha256: digest.slice('sha256:'.length) },
    annotations: { kind: 'oci-blob', verification: 'unverifiable', fetched: 'partial', size: 4096 },
  });
});

t.test('curl -r 0-: a ranged read of the whole blob is verified like any pull', async (t) => {
  const { bytes, digest } = await seedBlob('hidden/whole', 20_000);
  const whole = await curlThroughProxy(
    ['-r', '0-'],
    `https://${registry.host}/v2/hidden/whole/blobs/${digest}`,
  );
  t.equal(whole.code, 0, whole.stderr);
  t.same(whole.stdout, bytes);
  const found = await dependency(`hidden/whole@${digest}`);
  t.match(found, { annotations: { kind: 'oci-blob', verification: 'verified', size: 20_000 } });
  t.notOk(found.annotations?.['fetched'], 'not partial');
});

t.test('a blob read carrying ?service=&scope= is a pull, classified by its path', async (t) => {
  const { digest } = await seedBlob('hidden/query', 3000);
  const read = await curlThroughProxy(
    [],
    `https://${registry.host}/v2/hidden/query/blobs/${digest}?service=${registry.host}&scope=repository:hidden/query:pull`,
  );
  t.equal(read.code, 0, read.stderr);
  t.match(await dependency(`hidden/query@${digest}`), {
    annotations: { kind: 'oci-blob', verification: 'verified', size: 3000 },
  });
});

t.test('a WebSocket through the proxy: its bytes, both ways, are unobserved egress', async (t) => {
  const server = https.createServer({ key: lab.ca.serverKeyPem, cert: lab.ca.serverCertPem });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket) => socket.on('message', (message) => socket.send(message)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    wss.close();
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const authority = `registry.test:${port}`;
  const tunnel = await tlsThroughProxy(
    Number(new URL(proxy.url).port),
    'registry.test',
    port,
    proxy.trust.caPem,
  );
  const client = new WebSocket(`wss://${authority}/feed`, { createConnection: () => tunnel } as never);
  await once(client, 'open');
  const payload = randomBytes(13_000);
  client.send(payload);
  const [echoed] = (await once(client, 'message')) as [Buffer];
  t.equal(Buffer.compare(echoed, payload), 0, 'the echo came back through the proxy');
  client.close();
  await once(client, 'close');

  const listed = await waitUntil(
    async () => {
      const statement = await proxy.provenance();
      const egress = statement.predicate.runDetails.byproducts?.find((b) => b.name === 'egress-summary');
      const tunnels = (egress?.annotations?.['unobservedTunnels'] ?? []) as {
        authority: string;
        bytesFromClient: number;
        bytesFromUpstream: number;
      }[];
      return tunnels.find((entry) => entry.authority === authority);
    },
    { what: 'the upgraded connection in the egress summary', attempts: 100, intervalMs: 100 },
  );
  // Frames add a few bytes of header (and the client's mask) to the 13,000 payload bytes.
  t.ok(listed.bytesFromClient >= 13_000, `bytes from the client: ${listed.bytesFromClient}`);
  t.ok(listed.bytesFromUpstream >= 13_000, `bytes from the upstream: ${listed.bytesFromUpstream}`);
  t.match(await proxy.metrics(), /provenance_proxy_bytes_total\{direction="in",mode="upgrade"\} \d{5,}/);
});
