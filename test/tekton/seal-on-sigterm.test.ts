// Tekton stops a sidecar by swapping its image: the kubelet sends SIGTERM as soon as the last step
// ends, which may be right after the build's last push client exited. The build statement the
// proxy seals on SIGTERM must name every image pushed, with nothing left to settle first.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { InTotoStatement } from '../../src/provenance/statement-types.js';
import { readManifest } from '../support/ground-truth.js';
import { startLab } from '../support/lab.js';
import { runChecked, startCommand, stopChild } from '../support/run-command.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitUntil } from '../support/wait-until.js';

const out = await makeTempDir('seal');
t.teardown(() => out.remove());

/** The statements of the build reports in `dir`, last line of each file (the latest delivery). */
async function buildStatements(dir: string): Promise<InTotoStatement[]> {
  const names = (await readdir(dir)).filter(
    (name) => name.startsWith('build-') && name.endsWith('.intoto.jsonl'),
  );
  const statements: InTotoStatement[] = [];
  for (const name of names) {
    const lines = (await readFile(join(dir, name), 'utf8')).trim().split('\n');
    const envelope = JSON.parse(lines.at(-1) ?? '{}') as { payload: string };
    statements.push(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as InTotoStatement);
  }
  return statements;
}

const names = (statement: InTotoStatement) =>
  statement.subject.map((s) => `${s.name}@sha256:${s.digest?.sha256}`).sort();

t.test('SIGTERM right after the last push: the sealed statement names every pushed image', async (t) => {
  const provenanceDir = join(out.path, 'sequential');
  const lab = await startLab({
    name: 'seal',
    teardown: (fn) => t.teardown(fn),
    registries: ['open'],
    proxy: { extraArgs: ['--provenance-dir', provenanceDir] },
  });
  const registry = lab.registry('open');
  const pushed: string[] = [];
  for (const [fixture, repository] of [
    ['single', 'seal/one'],
    ['multi', 'seal/two'],
    ['single', 'seal/three'],
  ] as const) {
    await lab.clients.skopeoCopy(lab.fixtures.ref(fixture), `docker://${registry.host}/${repository}:v1`);
    pushed.push(
      `${registry.host}/${repository}@${(await readManifest(registry.directClient(), repository, 'v1')).digest}`,
    );
  }
  // No settle barrier: the signal follows the client's exit as closely as a kubelet can.
  await lab.proxy().kill('SIGTERM');

  const statements = await buildStatements(provenanceDir);
  t.equal(statements.length, 1, 'one build statement was written before exit');
  const [statement] = statements;
  t.same(statement === undefined ? [] : names(statement), pushed.sort(), 'every pushed image is a subject');
  t.ok(statement?.predicate.runDetails.metadata?.finishedOn, 'the statement is sealed (finishedOn)');
});

t.test('SIGTERM while the last two pushes finish together: both are in the sealed statement', async (t) => {
  const provenanceDir = join(out.path, 'concurrent');
  const lab = await startLab({
    name: 'seal-concurrent',
    teardown: (fn) => t.teardown(fn),
    registries: ['open'],
    proxy: { extraArgs: ['--provenance-dir', provenanceDir] },
  });
  const registry = lab.registry('open');
  const repositories = ['seal/left', 'seal/right'];
  await Promise.all(
    repositories.map((repository) =>
      lab.clients.skopeoCopy(lab.fixtures.ref('multi'), `docker://${registry.host}/${repository}:v1`),
    ),
  );
  await lab.proxy().kill('SIGTERM');
  const pushed: string[] = [];
  for (const repository of repositories) {
    pushed.push(
      `${registry.host}/${repository}@${(await readManifest(registry.directClient(), repository, 'v1')).digest}`,
    );
  }
  const statements = await buildStatements(provenanceDir);
  t.equal(statements.length, 1, 'one build statement was written before exit');
  t.same(statements[0] === undefined ? [] : names(statements[0]), pushed.sort());
});

t.test('a build step holding a request open cannot keep SIGTERM from sealing', async (t) => {
  // The proxy waits for in-flight exchanges before its final statement; a hostile step that
  // trickles an upload keeps that wait going until the grace period ends, and a kubelet whose
  // terminationGracePeriodSeconds is shorter kills the sidecar first. The statement of what
  // was already pushed must be out before that wait.
  const provenanceDir = join(out.path, 'held-open');
  const lab = await startLab({
    name: 'seal-held',
    teardown: (fn) => t.teardown(fn),
    registries: ['open'],
    proxy: { extraArgs: ['--provenance-dir', provenanceDir, '--shutdown-grace', '60s'] },
  });
  const registry = lab.registry('open');
  const proxy = lab.proxy();
  await lab.clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${registry.host}/seal/held:v1`);
  const body = join(out.path, 'trickle.bin');
  await writeFile(body, Buffer.alloc(1024 * 1024, 7));
  const viaProxy = ['-sS', '--proxy', proxy.url, '--cacert', join(proxy.trust.certDir, 'ca.crt')];
  // An upload session, then a PATCH whose body trickles: the registry answers only at its end.
  const session = await runChecked('curl', [
    ...viaProxy,
    '-o',
    '/dev/null',
    '-D',
    '-',
    '-X',
    'POST',
    `https://${registry.host}/v2/seal/slow/blobs/uploads/`,
  ]);
  const location = /^location:\s*(\S+)/im.exec(session.stdout)?.[1];
  t.ok(location, 'the registry opened an upload session');
  const trickle = startCommand('curl', [
    ...viaProxy,
    '--limit-rate',
    '2K',
    '-X',
    'PATCH',
    '-H',
    'content-type: application/octet-stream',
    '-T',
    body,
    new URL(location ?? '/', `https://${registry.host}`).href,
  ]);
  t.teardown(() => stopChild(trickle.child));
  await waitUntil(
    async () => {
      if (trickle.child.exitCode !== null) throw new Error(`curl ended: ${(await trickle.done).stderr}`);
      return /provenance_proxy_active_connections\{kind="intercepted"\} [1-9]/.test(await proxy.metrics());
    },
    {
      what: 'the trickling upload to be in flight',
      attempts: 100,
      intervalMs: 50,
    },
  );

  process.kill(proxy.pid() ?? 0, 'SIGTERM');
  await waitUntil(async () => (await buildStatements(provenanceDir).catch(() => [])).length > 0, {
    what: 'a build statement while the held request is still open',
    attempts: 60,
    intervalMs: 100,
  });
  await proxy.kill('SIGKILL');
  const [statement] = await buildStatements(provenanceDir);
  const pushed = (await readManifest(registry.directClient(), 'seal/held', 'v1')).digest;
  t.same(statement === undefined ? [] : names(statement), [`${registry.host}/seal/held@${pushed}`]);
  t.equal(trickle.child.exitCode, null, 'the held request was still open when the statement appeared');
});
