// `provenance-proxy report`: the last step of a Tekton Task writes Chains' type-hinted results from
// what the live proxy saw pushed. Real proxy (with a control token), real registry, real skopeo
// pushes; a hostile build step plants forged results and symlinks before the report runs.
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { readManifest } from '../support/ground-truth.js';
import { startLab } from '../support/lab.js';
import { makeTempDir } from '../support/temp-dir.js';
import { runReport } from './support/report-cli.js';

const secrets = await makeTempDir('report-token');
t.teardown(() => secrets.remove());
const tokenFile = join(secrets.path, 'control-token');
await writeFile(tokenFile, 'report-test-control-token-0123456789\n', { mode: 0o600 });

const lab = await startLab({
  name: 'report',
  teardown: (fn) => t.teardown(fn),
  registries: ['open'],
  proxy: { extraArgs: ['--control-token-file', tokenFile] },
});
const registry = lab.registry('open');
const proxy = lab.proxy();
const control = ['--control-url', proxy.controlUrl, '--control-token-file', tokenFile];

let resultsCount = 0;
async function freshResultsDir(): Promise<string> {
  const dir = join(lab.dir, `results-${++resultsCount}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function registryDigest(repository: string, tag: string): Promise<string> {
  return (await readManifest(registry.directClient(), repository, tag)).digest;
}

t.test('nothing pushed: exit 4 and no results; --allow-empty removes a planted IMAGES', async (t) => {
  const dir = await freshResultsDir();
  await writeFile(join(dir, 'IMAGE_URL'), 'evil.example/forged');
  const refused = await runReport([...control, '--results-dir', dir]);
  t.equal(refused.code, EXIT.notFound.status, refused.stderr);
  t.match(refused.stderr, /saw no image pushed/);
  t.same(await readdir(dir), [], 'nothing written, and the planted IMAGE_URL is gone');

  await writeFile(join(dir, 'IMAGES'), 'evil.example/forged@sha256:' + 'e'.repeat(64));
  const allowed = await runReport([...control, '--results-dir', dir, '--allow-empty']);
  t.equal(allowed.code, 0, allowed.stderr);
  t.same(await readdir(dir), [], 'the forged IMAGES is gone');
});

t.test('one image: IMAGES, IMAGE_URL, IMAGE_DIGEST, ARTIFACT_OUTPUTS name the pushed digest', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${registry.host}/tekton/app:v1`);
  const digest = await registryDigest('tekton/app', 'v1');
  const dir = await freshResultsDir();
  // A hostile build step leaves forged results behind, one of them a symlink to a file outside.
  const outside = join(lab.dir, 'outside-target');
  await writeFile(outside, 'untouched');
  await symlink(outside, join(dir, 'IMAGE_URL'));
  await writeFile(join(dir, 'IMAGE_DIGEST'), `sha256:${'f'.repeat(64)}`);

  const result = await runReport([...control, '--results-dir', dir, '--finalize']);
  t.equal(result.code, 0, result.stderr);
  const read = (name: string) => readFile(join(dir, name), 'utf8');
  t.equal(await read('IMAGES'), `${registry.host}/tekton/app@${digest}`);
  t.equal(await read('IMAGE_URL'), `${registry.host}/tekton/app`);
  t.equal(await read('IMAGE_DIGEST'), digest, 'the digest the registry stores');
  t.same(JSON.parse(await read('ARTIFACT_OUTPUTS')), {
    uri: `${registry.host}/tekton/app`,
    digest,
    isBuildArtifact: 'true',
  });
  t.notOk((await lstat(join(dir, 'IMAGE_URL'))).isSymbolicLink(), 'the planted symlink was replaced');
  t.equal(await readFile(outside, 'utf8'), 'untouched', 'its target was not written through');
  t.same((await readdir(dir)).sort(), ['ARTIFACT_OUTPUTS', 'IMAGES', 'IMAGE_DIGEST', 'IMAGE_URL']);
});

t.test('two images: IMAGES lists both; single-image hints a step forged are removed', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('multi'), `docker://${registry.host}/tekton/worker:v1`);
  const app = await registryDigest('tekton/app', 'v1');
  const worker = await registryDigest('tekton/worker', 'v1');
  const dir = await freshResultsDir();
  await writeFile(join(dir, 'IMAGE_URL'), 'evil.example/forged');
  await writeFile(join(dir, 'IMAGE_DIGEST'), `sha256:${'f'.repeat(64)}`);
  await writeFile(join(dir, 'ARTIFACT_OUTPUTS'), '{"uri":"evil.example/forged","digest":"sha256:00"}');

  const result = await runReport([...control, '--results-dir', dir]);
  t.equal(result.code, 0, result.stderr);
  t.equal(
    await readFile(join(dir, 'IMAGES'), 'utf8'),
    [`${registry.host}/tekton/app@${app}`, `${registry.host}/tekton/worker@${worker}`].join('\n'),
  );
  t.same(await readdir(dir), ['IMAGES'], 'no single-image hint survives');
});

t.test('a wrong token or no control server: exit 3, nothing written', async (t) => {
  const dir = await freshResultsDir();
  await writeFile(join(dir, 'IMAGES'), `evil.example/forged@sha256:${'e'.repeat(64)}`);
  const wrongToken = join(secrets.path, 'wrong-token');
  await writeFile(wrongToken, 'not-the-control-token-0123456789');
  const refused = await runReport([
    '--control-url',
    proxy.controlUrl,
    '--control-token-file',
    wrongToken,
    '--results-dir',
    dir,
    '--finalize',
  ]);
  t.equal(refused.code, EXIT.unavailable.status, refused.stderr);
  t.match(refused.stderr, /answered 401/);
  t.notMatch(refused.stderr, /not-the-control-token/, 'the token is never printed');

  const unreachable = await runReport(['--control-url', 'http://127.0.0.1:1', '--results-dir', dir]);
  t.equal(unreachable.code, EXIT.unavailable.status, unreachable.stderr);
  t.same(await readdir(dir), []);
});

t.test('usage errors: exit 2', async (t) => {
  const noToken = await runReport(['--finalize', '--results-dir', lab.dir]);
  t.equal(noToken.code, EXIT.usage.status);
  t.match(noToken.stderr, /--finalize needs --control-token-file/);
  const badUrl = await runReport(['--control-url', 'file:///etc/passwd']);
  t.equal(badUrl.code, EXIT.usage.status);
  const help = await runReport(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /IMAGES/);
});
