// --push-allow with real clients through the real proxy: pushes to allowed repositories go
// through and are recorded; a push anywhere else is answered 403 by the proxy before any byte
// reaches the registry, each client shows the proxy's reason in its own error output, and the
// refusal is journaled, counted and listed in the statement.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { type Assertions, assertRecordedExactly, repositories } from '../support/assert-recorded.js';
import { tlsThroughProxy } from '../support/clients.js';
import { buildSingleImageLayout } from '../support/fixture-images.js';
import { httpsRequestOnce } from '../support/https-request.js';
import { startLab } from '../support/lab.js';
import { CommandFailedError, type CommandResult } from '../support/run-command.js';

const lab = await startLab({
  name: 'push-policy',
  teardown: (fn) => t.teardown(fn),
  registries: ['open'],
  proxyArgs: (registry) => ['--push-allow', `${registry('open').host}/team/**`],
});
const open = lab.registry('open');
const rule = `${open.host}/team/**`;
const craneLayout = join(lab.dir, 'fixtures', 'policy-crane-layout');
await buildSingleImageLayout(craneLayout, 'policy');
await writeFile(join(lab.clients.dir, 'notes.md'), '# refused artifact\n');

/** The client's failure: its exit status and its own stderr. */
async function failure(run: () => Promise<CommandResult>): Promise<CommandResult> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof CommandFailedError) return error.result;
    throw error;
  }
}

/** Nothing under `other/` ever reached the registry (its own request log). */
async function registrySawNothingOf(t: Assertions, repository: string): Promise<void> {
  const log = await open.requestLog();
  const touched = log.filter((entry) => entry.path.startsWith(`/v2/${repository}/`));
  t.same(touched, [], `the registry received no request for ${repository}`);
}

t.test('skopeo: the allowed repository is pushed and recorded', async (t) => {
  await lab.clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${open.host}/team/app:v1`);
  await assertRecordedExactly(t, lab, [repositories(open, ['team/app'])]);
});

t.test('skopeo: a push to another repository fails with the proxy reason in its stderr', async (t) => {
  const result = await lab.clients.skopeoCopyUnchecked(
    lab.fixtures.ref('single'),
    `docker://${open.host}/other/app:v1`,
  );
  t.not(result.code, 0, 'skopeo failed');
  t.match(result.stderr, /denied/i);
  t.match(result.stderr, 'provenance-proxy refused this push');
  t.match(result.stderr, rule, 'the rule is named');
  await registrySawNothingOf(t, 'other/app');
});

t.test('crane: a push to another repository fails with the reason in its stderr', async (t) => {
  const result = await failure(() => lab.clients.crane(['push', craneLayout, `${open.host}/other/crane:v1`]));
  t.not(result.code, 0, 'crane failed');
  t.match(result.stderr, 'DENIED');
  t.match(result.stderr, rule);
  await registrySawNothingOf(t, 'other/crane');
});

t.test('crane: copying an allowed image into another repository (a mount) is refused too', async (t) => {
  const result = await failure(() =>
    lab.clients.crane(['copy', `${open.host}/team/app:v1`, `${open.host}/other/copy:v1`]),
  );
  t.not(result.code, 0, 'crane copy failed');
  t.match(result.stderr, rule);
  await registrySawNothingOf(t, 'other/copy');
});

t.test('oras: an artifact push to another repository fails with the reason in its stderr', async (t) => {
  const result = await failure(() =>
    lab.clients.oras(['push', `${open.host}/other/oras:v1`, 'notes.md:text/markdown'], {
      cwd: lab.clients.dir,
    }),
  );
  t.not(result.code, 0, 'oras failed');
  t.match(result.stderr, rule);
  await registrySawNothingOf(t, 'other/oras');
});

t.test('oras: the allowed repository takes an artifact', async (t) => {
  await lab.clients.oras(['push', `${open.host}/team/oras:v1`, 'notes.md:text/markdown'], {
    cwd: lab.clients.dir,
  });
  await assertRecordedExactly(t, lab, [repositories(open, ['team/app', 'team/oras'])]);
});

t.test(
  'a hand-made manifest PUT with a path the registry might normalise is refused, body unsent',
  async (t) => {
    const proxy = lab.proxy();
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
    });
    for (const path of ['/v2/team/../other/sneaky/manifests/v1', '/v2/other%2Fsneaky/manifests/v1']) {
      const response = await httpsRequestOnce({
        url: `https://${open.host}${path}`,
        method: 'PUT',
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest,
        ca: proxy.trust.caPem,
        proxy: { url: proxy.url },
      });
      t.equal(response.status, 403, `${path} refused`);
      t.equal(
        (JSON.parse(response.body.toString()) as { errors: { code: string }[] }).errors[0]?.code,
        'DENIED',
      );
    }
    // A monolithic upload carrying 4 MiB: answered 403 while its body is read and dropped.
    const blob = Buffer.alloc(4 * 1024 * 1024, 7);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const monolithic = await httpsRequestOnce({
      url: `https://${open.host}/v2/other/sneaky/blobs/uploads/?digest=${digest}`,
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: blob,
      ca: proxy.trust.caPem,
      proxy: { url: proxy.url },
    });
    t.equal(monolithic.status, 403, 'a monolithic upload with a body is refused');
    const log = await open.requestLog();
    t.same(
      log.filter((entry) => entry.path.includes('sneaky')),
      [],
      'the registry saw none of them',
    );
  },
);

t.test(
  'a refusal answered mid-body keeps the connection: the client sends the rest, then asks again',
  async (t) => {
    // Closing after the 403 would destroy the socket while the client still sends its body; it
    // would read a reset (EPIPE) instead of the answer, as it sometimes did under load.
    const proxy = lab.proxy();
    const [host, port] = open.host.split(':') as [string, string];
    const socket = await tlsThroughProxy(
      Number(new URL(proxy.url).port),
      host,
      Number(port),
      proxy.trust.caPem,
    );
    t.teardown(() => socket.destroy());
    let received = '';
    const answers = (count: number) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if ((received.match(/HTTP\/1\.1 \d{3}/g) ?? []).length < count) return;
          socket.off('data', onData);
          resolve();
        };
        const onData = (chunk: Buffer) => {
          received += chunk.toString('latin1');
          check();
        };
        socket.on('data', onData);
        socket.once('close', () => reject(new Error(`closed after: ${received.slice(0, 400)}`)));
        check();
      });
    const body = Buffer.alloc(1024 * 1024, 7);
    socket.write(
      `POST /v2/other/sneaky/blobs/uploads/ HTTP/1.1\r\nHost: ${open.host}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.subarray(0, 64 * 1024));
    await answers(1);
    t.match(received, /^HTTP\/1\.1 403 /, 'refused before the body is all sent');
    t.notMatch(received, /\r\nconnection: close\r\n/i, 'the refusal does not close the connection');
    socket.write(body.subarray(64 * 1024));
    socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${open.host}\r\n\r\n`);
    await answers(2);
    t.match(
      received,
      /HTTP\/1\.1 200 /,
      'the next request on the same connection is answered by the registry',
    );
  },
);

t.test('refusals are journaled, counted and in the statement; no refused push is recorded', async (t) => {
  await lab.settle();
  const proxy = lab.proxy();
  const statement = await proxy.provenance();
  const byproduct = (
    statement.predicate as { runDetails: { byproducts: { name: string; annotations: unknown }[] } }
  ).runDetails.byproducts.find((b) => b.name === 'push-refusals');
  const refusals =
    (byproduct?.annotations as { refusals: { repository: string | null }[] } | undefined)?.refusals ?? [];
  const refusedRepositories = new Set(refusals.map((r) => r.repository));
  for (const repository of ['other/app', 'other/crane', 'other/copy', 'other/oras', null])
    t.ok(refusedRepositories.has(repository), `the statement lists the refusal for ${String(repository)}`);
  const metrics = await proxy.metrics();
  t.match(metrics, /provenance_proxy_push_refusals_total\{route="upload-start"\} [1-9]/);
  // The dot segments are resolved by the client's URL parser: that one arrives as a manifest PUT.
  t.match(metrics, /provenance_proxy_push_refusals_total\{route="manifest-put"\} 1/);
  t.match(metrics, /provenance_proxy_push_refusals_total\{route="invalid"\} 1/);
  t.match(metrics, /provenance_proxy_push_refusals_total\{route="upload-monolithic"\} 1/);
  t.match(metrics, /provenance_proxy_refused_requests_total\{code="push_denied"\} [1-9]/);
  const journal = await proxy.control('/v1/observations?limit=1000');
  t.equal(journal.status, 200);
  const entries = (JSON.parse(journal.body) as { entries: { kind: string; data: { repository: string } }[] })
    .entries;
  t.ok(
    entries.some((entry) => entry.kind === 'oci.pushRefused' && entry.data.repository === 'other/crane'),
    'the journal holds the refusals',
  );
  const images = await proxy.images();
  t.same(
    images.filter((image) => !JSON.stringify(image).includes('/team/')),
    [],
    'only the allowed repositories hold recorded images',
  );
  await assertRecordedExactly(t, lab, [{ registry: open }], { nothingElse: true });
});
