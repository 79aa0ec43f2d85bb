// Each auth kind through the proxy: Basic (with relative Location headers) and bearer tokens
// from a token server the proxy also intercepts. The record must equal the registries'
// contents, and no credential or token may reach the proxy's logs or journal.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { assertRecordedExactly, repositories } from '../support/assert-recorded.js';
import { LAB_CREDENTIALS, startLab } from '../support/lab.js';
import { buildLocalImage } from '../support/local-images.js';
import { observedBlobs } from '../support/registry-log.js';
import { filesBelow } from '../support/secret-scan.js';

const lab = await startLab({
  name: 'auth',
  teardown: (fn) => t.teardown(fn),
  registries: ['basic', 'token'],
});
const basic = lab.registry('basic');
const token = lab.registry('token');

t.test('basic auth, relative Location: skopeo', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${basic.host}/auth/single:v1`);
  await assertRecordedExactly(t, lab, [repositories(basic, ['auth/single'])]);
});

t.test('basic auth, relative Location: buildah (chunked PATCH, uncompressed-digest HEADs)', async (t) => {
  await buildLocalImage(lab.clients, {
    name: 'localhost/auth/app:v1',
    files: { 'etc/app.txt': 'auth app\n' },
  });
  await lab.clients.buildahPush('localhost/auth/app:v1', `docker://${basic.host}/auth/buildah:v1`);
  await assertRecordedExactly(t, lab, [repositories(basic, ['auth/buildah'])]);
});

t.test('bearer token: skopeo multi-layer', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('multi'), `docker://${token.host}/auth/multi:v1`);
  t.ok(
    lab.tokenServer?.requests.some((request) => request.scopes.includes('repository:auth/multi:pull,push')),
    'skopeo asked the token server for a push token',
  );
  await assertRecordedExactly(t, lab, [repositories(token, ['auth/multi'])]);
});

t.test('bearer token: cross-repository mount with a two-scope token', async (t) => {
  await lab.clients.skopeoCopy(
    `docker://${token.host}/auth/multi:v1`,
    `docker://${token.host}/auth/multi-copy:v1`,
  );
  const observed = observedBlobs(await token.requestLog());
  const copy = [...(observed.dispositions.get('auth/multi-copy')?.values() ?? [])];
  t.ok(
    copy.some((dispositions) => dispositions.has('mounted')),
    'blobs were mounted',
  );
  await assertRecordedExactly(t, lab, [repositories(token, ['auth/multi-copy'])]);
});

t.test('bearer token: podman', async (t) => {
  await buildLocalImage(lab.clients, {
    name: 'localhost/auth/podman:v1',
    files: { 'etc/podman.txt': 'podman\n' },
  });
  await lab.clients.podmanPush('localhost/auth/podman:v1', `docker://${token.host}/auth/podman:v1`);
  await assertRecordedExactly(t, lab, [repositories(token, ['auth/podman'])]);
});

t.test('both registries: exactly their contents, nothing else', async (t) => {
  await assertRecordedExactly(t, lab, [{ registry: basic }, { registry: token }], { nothingElse: true });
});

t.test('no password, Basic header or token in the proxy log or data dir', async (t) => {
  const tokens = lab.tokenServer?.issuedTokens ?? [];
  t.ok(tokens.length > 0, 'tokens were issued during the flows');
  const basicValue = Buffer.from(`${LAB_CREDENTIALS.username}:${LAB_CREDENTIALS.password}`).toString(
    'base64',
  );
  // A token's signature segment alone is enough to count as a leak (a "redacted" header is not).
  const secrets = [
    LAB_CREDENTIALS.password,
    basicValue,
    ...tokens,
    ...tokens.map((jwt) => jwt.split('.')[2] ?? jwt),
  ];
  const proxy = lab.proxy();
  const files = [proxy.logPath, ...(await filesBelow(proxy.dataDir))];
  for (const file of files) {
    const text = await readFile(file, 'latin1');
    t.same(secrets.filter((secret) => text.includes(secret)).length, 0, `${file} holds no secret`);
  }
});
