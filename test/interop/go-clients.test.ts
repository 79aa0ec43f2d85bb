// The Go registry clients through the proxy: crane (go-containerregistry: HEAD manifest
// before PUT, possibly HTTP/2 through the tunnel) and oras (oras-go: monolithic uploads,
// OCI 1.1 artifacts, `attach` with the referrers tag fallback), plus cosign when installed.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { assertRecordedExactly, repositories } from '../support/assert-recorded.js';
import { buildSingleImageLayout } from '../support/fixture-images.js';
import { readRegistryContents } from '../support/ground-truth.js';
import { startLab } from '../support/lab.js';
import { findTool } from '../support/tools.js';

const lab = await startLab({ name: 'go-clients', teardown: (fn) => t.teardown(fn) });
const open = lab.registry('open');
const basic = lab.registry('basic');
const token = lab.registry('token');
const craneLayout = join(lab.dir, 'fixtures', 'crane-layout');
await buildSingleImageLayout(craneLayout, 'crane');
await writeFile(join(lab.clients.dir, 'readme.md'), '# interop artifact\n');
await writeFile(join(lab.clients.dir, 'review.json'), '{"reviewed":true}\n');

t.test('crane push (open registry)', async (t) => {
  await lab.clients.crane(['push', craneLayout, `${open.host}/go/crane:v1`]);
  await assertRecordedExactly(t, lab, [repositories(open, ['go/crane'])]);
});

t.test('crane push with basic auth and relative Location', async (t) => {
  await lab.clients.crane(['push', craneLayout, `${basic.host}/go/crane:v1`]);
  await assertRecordedExactly(t, lab, [repositories(basic, ['go/crane'])]);
});

t.test('crane copy between repositories with bearer tokens (mount)', async (t) => {
  await lab.clients.crane(['push', craneLayout, `${token.host}/go/crane:v1`]);
  await lab.clients.crane(['copy', `${token.host}/go/crane:v1`, `${token.host}/go/crane-copy:v1`]);
  await assertRecordedExactly(t, lab, [repositories(token, ['go/crane', 'go/crane-copy'])]);
});

t.test('oras push: an OCI 1.1 artifact (bearer token)', async (t) => {
  await lab.clients.oras([
    'push',
    '--artifact-type',
    'application/vnd.interop.readme.v1',
    `${token.host}/go/oras:v1`,
    'readme.md:text/markdown',
  ]);
  await assertRecordedExactly(t, lab, [repositories(token, ['go/oras'])]);
});

t.test('oras attach: an artifact with a subject, plus the referrers fallback tag', async (t) => {
  await lab.clients.oras([
    'attach',
    '--artifact-type',
    'application/vnd.interop.review.v1+json',
    `${open.host}/go/crane:v1`,
    'review.json:application/vnd.interop.review.v1+json',
  ]);
  const contents = await readRegistryContents(open, { includeRepository: (name) => name === 'go/crane' });
  const withSubject = contents.repositories[0]?.manifests.filter(
    (manifest) => manifest.body.subject !== undefined,
  );
  t.equal(withSubject?.length, 1, 'the registry holds one manifest with a subject');
  await assertRecordedExactly(t, lab, [repositories(open, ['go/crane'])]);
});

const cosign = findTool('cosign');
t.test(
  'cosign sign: a signature under the sha256-<hex>.sig tag',
  {
    skip: cosign === undefined ? 'cosign not installed (scripts/install-test-deps.sh builds it)' : false,
  },
  async (t) => {
    const env = { COSIGN_PASSWORD: 'interop', COSIGN_YES: 'true' };
    await lab.clients.goTool('cosign', ['generate-key-pair'], { env });
    const contents = await readRegistryContents(open, { includeRepository: (name) => name === 'go/crane' });
    const digest = contents.repositories[0]?.tags.v1;
    t.ok(digest, 'go/crane:v1 exists (pushed by the first subtest)');
    await lab.clients.goTool(
      'cosign',
      ['sign', '--key', 'cosign.key', '--tlog-upload=false', `${open.host}/go/crane@${digest}`],
      { env },
    );
    await assertRecordedExactly(t, lab, [repositories(open, ['go/crane'])]);
  },
);

t.test('all three registries: exactly their contents, nothing else', async (t) => {
  await assertRecordedExactly(t, lab, [{ registry: open }, { registry: basic }, { registry: token }], {
    nothingElse: true,
  });
});
