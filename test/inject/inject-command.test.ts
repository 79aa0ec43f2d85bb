import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { startInjector } from '../support/injector.js';
import { runCommand } from '../support/run-command.js';
import { makeTempDir } from '../support/temp-dir.js';
import { PROJECT_ROOT } from '../support/tools.js';
import { waitUntil } from '../support/wait-until.js';

/** The webhook server as the API server meets it: TLS, AdmissionReview in, JSONPatch out. */
const review = (object: unknown, uid = 'uid-1') =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'team',
      object,
    },
  });
const labelled = (spec: Record<string, unknown> = {}) => ({
  metadata: { name: 'p', labels: { 'provenance-proxy.dev/inject': 'true' } },
  spec: { containers: [{ name: 'build', image: 'busybox' }], ...spec },
});

const tmp = await makeTempDir('inject');
const injector = await startInjector(tmp.path, { image: 'pp:1' });
t.teardown(async () => {
  await injector.stop();
  await tmp.remove();
});

t.test(
  '--bootstrap-certs writes a serving pair for the Service, signed by a CA whose key is gone',
  async (t) => {
    const dir = join(tmp.path, 'webhook-tls');
    t.same((await readdir(dir)).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'no CA key is written');
    t.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600);
    const ca = new X509Certificate(injector.caPem);
    t.equal(Buffer.from(injector.caBundle, 'base64').toString(), injector.caPem, 'stdout is the caBundle');
    const served = new X509Certificate(
      await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'tls.crt'))),
    );
    t.ok(served.verify(ca.publicKey), 'signed by the CA');
    t.ok(served.checkIssued(ca));
    t.ok(ca.ca, 'the CA is a CA');
    t.notOk(served.ca, 'the serving certificate is not');
    for (const host of [
      'provenance-proxy-injector.provenance-system.svc',
      'provenance-proxy-injector.provenance-system.svc.cluster.local',
    ]) {
      t.equal(served.checkHost(host), host, host);
    }
    t.equal(served.checkIP('127.0.0.1'), '127.0.0.1', 'the extra --host');
    t.equal(served.checkHost('evil.example'), undefined);
  },
);

t.test('a labelled pod gets a JSONPatch; an unlabelled one none; a hostNetwork one is refused', async (t) => {
  const injected = await injector.post('/mutate/pod', review(labelled(), 'u-1'));
  t.equal(injected.status, 200);
  const answer = JSON.parse(injected.body);
  t.match(answer, {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' },
  });
  const patch = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString());
  t.ok(
    patch.some((op: { path: string }) => op.path === '/spec/initContainers'),
    'the patch adds the sidecar',
  );

  const untouched = JSON.parse(
    (await injector.post('/mutate/pod', review({ ...labelled(), metadata: { name: 'q' } }))).body,
  );
  t.same(untouched.response, { uid: 'uid-1', allowed: true }, 'no patch at all');

  const refused = JSON.parse(
    (await injector.post('/mutate/pod', review(labelled({ hostNetwork: true })))).body,
  );
  t.equal(refused.response.allowed, false);
  t.equal(refused.response.status.code, 403);
  t.match(refused.response.status.message, /cannot protect this pod: hostNetwork: true/);

  const other = JSON.parse(
    (
      await injector.post(
        '/mutate/pod',
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: {
            uid: 'cm',
            kind: { group: '', version: 'v1', kind: 'ConfigMap' },
            operation: 'CREATE',
            object: {},
          },
        }),
      )
    ).body,
  );
  t.same(other.response, { uid: 'cm', allowed: true }, 'anything but a pod CREATE passes untouched');
});

t.test('malformed, foreign and oversized bodies get a clear 4xx and the server keeps serving', async (t) => {
  const cases: Array<[string, string | Buffer, number, RegExp]> = [
    ['not JSON', '{"apiVersion":', 400, /not JSON/],
    [
      'another API version',
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1beta1',
        kind: 'AdmissionReview',
        request: { uid: 'x' },
      }),
      400,
      /expected an admission.k8s.io\/v1 AdmissionReview/,
    ],
    [
      'no uid',
      JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }),
      400,
      /no request.uid/,
    ],
    ['a pod without containers', review({ metadata: {}, spec: {} }), 400, /not a pod with spec.containers/],
    ['a 5 MiB body', Buffer.alloc(5 * 1024 * 1024, 0x20), 413, /too large/],
  ];
  for (const [what, body, status, message] of cases) {
    const answer = await injector
      .post('/mutate/pod', body)
      .catch((error: Error) => ({ status: -1, body: error.message }));
    t.equal(answer.status, status, what);
    t.match(answer.body, message, what);
  }
  t.equal((await injector.post('/elsewhere', review(labelled()))).status, 404);
  const still = await injector.post('/mutate/namespace', review(labelled(), 'after'));
  t.match(
    JSON.parse(still.body).response,
    { uid: 'after', allowed: true, patchType: 'JSONPatch' },
    'still serving',
  );
});

t.test('a client that stalls in its headers holds up no one and is cut off', async (t) => {
  const stalled = connect({
    host: '127.0.0.1',
    port: Number(new URL(injector.url).port),
    ca: injector.caPem,
  });
  await once(stalled, 'secureConnect');
  stalled.on('error', () => {
    // the server closing on it is the point
  });
  let answered = '';
  stalled.setEncoding('utf8').on('data', (chunk: string) => {
    answered += chunk;
  });
  stalled.write('POST /mutate/pod HTTP/1.1\r\nHost: injector\r\nContent-Length: 100\r\n'); // never ends
  const meanwhile = await injector.post('/mutate/pod', review(labelled(), 'meanwhile'));
  t.equal(meanwhile.status, 200, 'others are served');
  await waitUntil(async () => stalled.closed, {
    what: 'the stalled connection to be closed',
    attempts: 200,
    intervalMs: 100,
  });
  t.match(answered, /^HTTP\/1\.1 408 /, 'with a 408');
});

t.test('a renewed serving certificate is picked up without a restart', async (t) => {
  const renewed = await runCommand(process.execPath, [
    join(PROJECT_ROOT, 'dist/cli/main.js'),
    'inject',
    '--bootstrap-certs',
    join(tmp.path, 'webhook-tls'),
    '--host',
    '127.0.0.1',
  ]);
  t.equal(renewed.code, 0, renewed.stderr);
  const newCa = Buffer.from(renewed.stdout.trim(), 'base64').toString();
  t.not(newCa, injector.caPem, 'a new CA');
  const answer = await waitUntil(
    () => injector.post('/mutate/pod', review(labelled(), 'renewed'), newCa).catch(() => false as const),
    { what: 'the renewed certificate to be served', attempts: 100, intervalMs: 100 },
  );
  t.equal(answer.status, 200);
  await t.rejects(injector.post('/mutate/pod', review(labelled())), 'the old CA no longer verifies it');
  t.match(await injector.log(), /"event":"tls_reloaded"/);
});

t.test('a config that breaks a rule at start-up is fatal, with the reason', async (t) => {
  const result = await runCommand(process.execPath, [
    join(PROJECT_ROOT, 'dist/cli/main.js'),
    'inject',
    `--config=${join(tmp.path, 'missing.json')}`,
    '--tls-cert=x',
    '--tls-key=y',
  ]);
  t.equal(result.code, EXIT.usage.status);
  t.match(result.stderr, /injector config \(file\): cannot read .*missing\.json.*\[ERR_INJECT_CONFIG\]/);
});
