// Self-test of the interop harness: real registries, token server, clients and fault proxy,
// without the proxy under test. Clients go straight to the registries or through a plain
// CONNECT tunnel, so every part the interop tests stand on is checked on its own.
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { ChunkedPusher } from '../support/chunked-pusher.js';
import { startConnectProxy } from '../support/connect-proxy.js';
import { compareImages, expectedImages } from '../support/expected-images.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { buildSingleImageLayout } from '../support/fixture-images.js';
import { readRegistryContents } from '../support/ground-truth.js';
import { httpsRequestOnce } from '../support/https-request.js';
import type { ImageRecord } from '../support/images-contract.js';
import { LAB_CREDENTIALS, startLab } from '../support/lab.js';
import { buildLocalImage } from '../support/local-images.js';
import { RegistryClient } from '../support/registry-client.js';
import { observedBlobs } from '../support/registry-log.js';
import { runChecked } from '../support/run-command.js';

const lab = await startLab({ name: 'harness', teardown: (fn) => t.teardown(fn), withProxy: false });
const open = lab.registry('open');
const basic = lab.registry('basic');
const token = lab.registry('token');

t.test('the test CA signs a registry.test + 127.0.0.1 server certificate', async (t) => {
  const verified = await runChecked('openssl', [
    'verify',
    '-CAfile',
    lab.ca.caCertPath,
    lab.ca.serverCertPath,
  ]);
  t.match(verified.stdout, /: OK/);
  const text = await runChecked('openssl', [
    'x509',
    '-in',
    lab.ca.serverCertPath,
    '-noout',
    '-ext',
    'subjectAltName',
  ]);
  t.match(text.stdout, /DNS:registry\.test/);
  t.match(text.stdout, /IP Address:127\.0\.0\.1/);
});

t.test('each registry kind challenges as configured and serves an authenticated client', async (t) => {
  const anonymous = async (host: string) =>
    httpsRequestOnce({ url: `https://${host}/v2/`, ca: lab.ca.caCertPem });
  const openPing = await anonymous(open.host);
  t.equal(openPing.status, 200, 'open registry: no auth');
  const basicPing = await anonymous(basic.host);
  t.equal(basicPing.status, 401);
  t.match(String(basicPing.headers['www-authenticate']), /^Basic realm="interop-basic"/);
  const tokenPing = await anonymous(token.host);
  t.equal(tokenPing.status, 401);
  t.match(
    String(tokenPing.headers['www-authenticate']),
    `Bearer realm="${lab.tokenServer?.realm}",service="${token.host}"`,
  );
  for (const registry of [open, basic, token]) {
    const response = await registry.directClient().request({ path: '/v2/_catalog' });
    t.equal(response.status, 200, `${registry.name}: catalog with credentials`);
  }
});

t.test(
  'the token server grants pull to anyone, everything to the credentials, nothing to a wrong password',
  async (t) => {
    const realm = lab.tokenServer?.realm ?? '';
    const scope = 'repository:lab/x:pull,push';
    const ask = (authorization?: string) =>
      httpsRequestOnce({
        url: `${realm}?service=${encodeURIComponent(token.host)}&scope=${encodeURIComponent(scope)}`,
        headers: authorization === undefined ? {} : { authorization },
        ca: lab.ca.caCertPem,
      });
    const basicHeader = (password: string) =>
      `Basic ${Buffer.from(`${LAB_CREDENTIALS.username}:${password}`).toString('base64')}`;
    t.equal((await ask()).status, 200);
    t.equal((await ask(basicHeader(LAB_CREDENTIALS.password))).status, 200);
    t.equal((await ask(basicHeader('wrong'))).status, 401);
    const records = lab.tokenServer?.requests.slice(-3) ?? [];
    t.same(
      records.map((record) => ({
        status: record.status,
        granted: record.granted.map((g) => g.actions.join(',')),
      })),
      [
        { status: 200, granted: ['pull'] },
        { status: 200, granted: ['pull,push'] },
        { status: 401, granted: [] },
      ],
    );
    t.notMatch(JSON.stringify(lab.tokenServer?.requests), LAB_CREDENTIALS.password, 'no secret is kept');
  },
);

t.test('skopeo pushes directly to each registry; the ground truth matches what skopeo reports', async (t) => {
  for (const registry of [open, basic, token]) {
    const pushed = await lab.directClients.skopeoCopy(
      lab.fixtures.ref('single'),
      `docker://${registry.host}/harness/single:v1`,
    );
    const contents = await readRegistryContents(registry, {
      includeRepository: (name) => name === 'harness/single',
    });
    t.same(
      contents.repositories.map((repository) => ({ name: repository.name, tags: repository.tags })),
      [{ name: 'harness/single', tags: { v1: pushed.digest } }],
      `${registry.name}: tag v1 → the digest skopeo reported`,
    );
    t.equal(contents.repositories[0]?.manifests[0]?.registryDigest, pushed.digest);
    const log = observedBlobs(await registry.requestLog());
    t.same(log.manifestPuts, [{ repository: 'harness/single', reference: 'v1', status: 201 }]);
  }
  t.ok(
    lab.tokenServer?.requests.some((record) => record.scopes.includes('repository:harness/single:pull,push')),
    'skopeo fetched a push token',
  );
});

t.test(
  'the basic-auth registry answers with relative Locations, the others with absolute ones',
  async (t) => {
    const start = (registry: typeof open) =>
      registry.directClient().request({ method: 'POST', path: '/v2/harness/location/blobs/uploads/' });
    t.match(String((await start(basic)).headers.location), /^\/v2\/harness\/location\/blobs\/uploads\//);
    t.match(
      String((await start(open)).headers.location),
      `https://${open.host}/v2/harness/location/blobs/uploads/`,
    );
  },
);

t.test(
  'expected records: an index links its children, a push by digest has no tag, tags merge',
  async (t) => {
    await lab.directClients.skopeoCopy(lab.fixtures.ref('index'), `docker://${open.host}/harness/index:v1`, {
      all: true,
    });
    const multi = await lab.directClients.skopeoCopy(
      lab.fixtures.ref('multi'),
      `docker://${open.host}/harness/multi:v1`,
    );
    await lab.directClients.skopeoCopy(lab.fixtures.ref('multi'), `docker://${open.host}/harness/multi:v2`);
    const byDigest = `docker://${open.host}/harness/bydigest@${multi.digest}`;
    await lab.directClients.skopeoCopy(lab.fixtures.ref('multi'), byDigest);
    const contents = await readRegistryContents(open, {
      includeRepository: (name) => name.startsWith('harness/'),
    });
    const expected = expectedImages(contents);
    const pick = (repository: string) =>
      expected
        .filter((image) => image.repository === repository)
        .map(({ tags, kind, children, digest }) => ({ tags, kind, children, digest }));
    const index = contents.repositories.find((repository) => repository.name === 'harness/index');
    t.same(pick('harness/index'), [
      {
        tags: ['v1'],
        kind: 'index',
        digest: index?.tags.v1,
        children: [...(index?.manifests.find((m) => m.digest === index.tags.v1)?.body.manifests ?? [])]
          .map((child) => ({
            digest: child.digest,
            platform: `linux/${child.platform?.architecture}${child.platform?.variant ? `/${child.platform.variant}` : ''}`,
          }))
          .sort((a, b) => a.digest.localeCompare(b.digest)),
      },
    ]);
    t.equal(index?.manifests.length, 3, 'the registry stores the index and both children');
    t.same(pick('harness/multi'), [
      { tags: ['v1', 'v2'], kind: 'image', children: [], digest: multi.digest },
    ]);
    t.same(pick('harness/bydigest'), [{ tags: [], kind: 'image', children: [], digest: multi.digest }]);
  },
);

t.test(
  'a private blob-info cache: mounts across repositories happen, the machine cache is untouched',
  async (t) => {
    const machineCache = '/var/lib/containers/cache/blob-info-cache-v1.boltdb';
    const before = await stat(machineCache).catch(() => undefined);
    await lab.directClients.skopeoCopy(
      `docker://${open.host}/harness/multi:v1`,
      `docker://${open.host}/harness/multi-copy:v1`,
    );
    const observed = observedBlobs(await open.requestLog());
    const copy = observed.dispositions.get('harness/multi-copy') ?? new Map();
    const mounted = [...copy.values()].filter((dispositions) => dispositions.has('mounted'));
    t.ok(mounted.length >= 1, `skopeo mounted layers into harness/multi-copy (${mounted.length})`);
    const after = await stat(machineCache).catch(() => undefined);
    t.equal(after?.mtimeMs, before?.mtimeMs, 'the machine-wide blob-info cache was not written');
  },
);

t.test('every client goes through HTTPS_PROXY with its own trust settings', async (t) => {
  const tunnel = await startConnectProxy();
  t.teardown(() => tunnel.close());
  const viaTunnel = lab.directClients.withRoute({ proxyUrl: tunnel.url, trust: lab.directTrust });
  const craneLayout = join(lab.dir, 'fixtures', 'crane-layout');
  await buildSingleImageLayout(craneLayout, 'crane');
  await buildLocalImage(viaTunnel, { name: 'localhost/harness/app:v1', files: { 'etc/app.txt': 'app\n' } });
  const notePath = join(viaTunnel.dir, 'note.txt');
  await writeFile(notePath, 'note\n');

  const steps: [string, () => Promise<unknown>, string][] = [
    [
      'skopeo',
      () =>
        viaTunnel.skopeoCopy(lab.fixtures.ref('single'), `docker://${basic.host}/harness/tunnel-skopeo:v1`),
      basic.host,
    ],
    [
      'buildah',
      () =>
        viaTunnel.buildahPush('localhost/harness/app:v1', `docker://${token.host}/harness/tunnel-buildah:v1`),
      token.host,
    ],
    [
      'podman',
      () =>
        viaTunnel.podmanPush('localhost/harness/app:v1', `docker://${open.host}/harness/tunnel-podman:v1`),
      open.host,
    ],
    [
      'crane',
      () => viaTunnel.crane(['push', craneLayout, `${basic.host}/harness/tunnel-crane:v1`]),
      basic.host,
    ],
    [
      'oras',
      () => viaTunnel.oras(['push', `${token.host}/harness/tunnel-oras:v1`, 'note.txt:text/plain']),
      token.host,
    ],
  ];
  const allTunnels: string[] = [];
  for (const [client, run, host] of steps) {
    tunnel.tunnels.length = 0;
    await run();
    allTunnels.push(...tunnel.tunnels);
    t.ok(
      tunnel.tunnels.includes(host),
      `${client} opened CONNECT ${host} (saw ${[...new Set(tunnel.tunnels)].join(', ')})`,
    );
  }
  t.ok(
    allTunnels.every((authority) => authority.startsWith('registry.test:')),
    'only registry.test was tunnelled',
  );
  for (const [registry, repository] of [
    [basic, 'harness/tunnel-skopeo'],
    [token, 'harness/tunnel-buildah'],
    [open, 'harness/tunnel-podman'],
    [basic, 'harness/tunnel-crane'],
    [token, 'harness/tunnel-oras'],
  ] as const) {
    const contents = await readRegistryContents(registry, {
      includeRepository: (name) => name === repository,
    });
    t.same(Object.keys(contents.repositories[0]?.tags ?? {}), ['v1'], `${repository} holds v1`);
  }
});

t.test('the fault proxy fails chosen requests and forwards the rest', async (t) => {
  const fault = await startFaultProxy(open, lab.ca);
  t.teardown(() => fault.close());
  fault.addRule({
    name: 'manifest-500',
    method: 'PUT',
    path: /^\/v2\/harness\/faulty\/manifests\//,
    action: { kind: 'respond', status: 500 },
  });
  const failed = await lab.directClients.skopeoCopyUnchecked(
    lab.fixtures.ref('single'),
    `docker://${fault.host}/harness/faulty:v1`,
  );
  t.not(failed.code, 0, 'skopeo fails on the injected 500');
  t.equal(fault.events.length, 1);
  let contents = await readRegistryContents(open, { includeRepository: (name) => name === 'harness/faulty' });
  t.same(
    contents.repositories.map((repository) => [repository.tags, repository.manifests]),
    [[{}, []]],
    'the registry holds the blobs but never saw the manifest',
  );
  const pushed = await lab.directClients.skopeoCopy(
    lab.fixtures.ref('single'),
    `docker://${fault.host}/harness/faulty:v1`,
  );
  contents = await readRegistryContents(open, { includeRepository: (name) => name === 'harness/faulty' });
  t.same(
    contents.repositories[0]?.tags,
    { v1: pushed.digest },
    'the rule fired once; the retry went through',
  );

  fault.addRule({
    name: 'reset',
    method: 'PATCH',
    path: /\/blobs\/uploads\//,
    action: { kind: 'reset-after', bytes: 1000 },
  });
  const pusher = new ChunkedPusher(new RegistryClient({ host: fault.host, ca: lab.ca.caCertPem }));
  await t.rejects(pusher.uploadBlob('harness/reset', Buffer.alloc(64 * 1024, 1), 64 * 1024), {
    code: 'ECONNRESET',
  });
  t.equal((await fault.fired('reset')).action, 'reset-after');

  fault.addRule({
    name: 'stall',
    method: 'PATCH',
    path: /\/blobs\/uploads\//,
    action: { kind: 'stall-after', bytes: 1000 },
  });
  const stalledUpload = pusher.uploadBlob('harness/stall', Buffer.alloc(256 * 1024, 2), 256 * 1024);
  await fault.fired('stall');
  fault.releaseStalls();
  const done = await stalledUpload;
  t.equal(done.retriedChunks, 0, 'a released stall completes normally');
});

t.test('a chunk answered 416 is resent from the offset the registry reports', async (t) => {
  const fault = await startFaultProxy(open, lab.ca);
  t.teardown(() => fault.close());
  fault.addRule({
    name: 'second-chunk-416',
    method: 'PATCH',
    path: /\/blobs\/uploads\//,
    skip: 1,
    action: { kind: 'respond', status: 416 },
  });
  // The registry never sees the refused chunk, reports Range 0-1023, and the client resends it.
  const pusher = new ChunkedPusher(new RegistryClient({ host: fault.host, ca: lab.ca.caCertPem }));
  const blob = Buffer.alloc(3 * 1024, 7);
  const result = await pusher.uploadBlob('harness/chunked', blob, 1024);
  t.equal(result.retriedChunks, 1);
  const head = await open
    .directClient()
    .request({ method: 'HEAD', path: `/v2/harness/chunked/blobs/${result.digest}` });
  t.equal(head.status, 200, 'the registry holds the blob under the digest of all the bytes');
});

t.test('the comparator: a record equal to the ground truth compares clean, wrong ones do not', async (t) => {
  const contents = await readRegistryContents(open, {
    includeRepository: (name) => name.startsWith('harness/'),
  });
  const observed = observedBlobs(await open.requestLog());
  const expected = expectedImages(contents);
  const faithful: ImageRecord[] = expected.map((image) => {
    const seen = observed.dispositions.get(image.repository) ?? new Map();
    const blobs = {
      uploaded: [] as string[],
      mounted: [] as string[],
      present: [] as string[],
      unaccounted: [] as string[],
    };
    for (const digest of image.referencedBlobs) {
      const dispositions = seen.get(digest);
      if (dispositions?.has('uploaded')) blobs.uploaded.push(digest);
      else if (dispositions?.has('mounted')) blobs.mounted.push(digest);
      else if (dispositions?.has('present')) blobs.present.push(digest);
      else blobs.unaccounted.push(digest);
    }
    const { referencedBlobs: _ignored, children, ...rest } = image;
    return { ...rest, children, blobs, kind: image.kind as ImageRecord['kind'] };
  });
  const all = () => true;
  const clean = compareImages(faithful, expected, observed, all);
  t.same(clean.actual, clean.expected);
  t.same(clean.blobProblems, []);

  const retagged = faithful.map((image, i) =>
    i === 0 ? { ...image, tags: [...image.tags, 'extra'] } : image,
  );
  t.notSame(
    compareImages(retagged, expected, observed, all).actual,
    clean.expected,
    'an extra tag is a difference',
  );
  const withoutOne = faithful.slice(1);
  t.notSame(
    compareImages(withoutOne, expected, observed, all).actual,
    clean.expected,
    'a missing image is a difference',
  );
  const misclassified = faithful.map((image) =>
    image.blobs.uploaded.length > 0
      ? { ...image, blobs: { ...image.blobs, uploaded: [], mounted: image.blobs.uploaded } }
      : image,
  );
  t.ok(
    compareImages(misclassified, expected, observed, all).blobProblems.length > 0,
    'a false "mounted" is a problem',
  );
});
