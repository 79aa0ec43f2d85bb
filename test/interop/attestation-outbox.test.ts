// --attach-attestations is retried through the outbox: a real TLS server in front of Debian's
// registry (test/support/fault-proxy.ts) fails the attachment the ways a registry does (500, 401,
// a connection reset mid-write, a long 503 outage); the proxy keeps serving, the outbox holds the
// attachment, and once the registry is healthy it lands exactly once, also across a kill -9 at the
// worst moment (the registry stored the .att, the proxy never heard). A 403 DENIED is not retried:
// the attachment goes to the dead-letter file, loudly.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { attestationTag } from '../../src/attest/attestation-layout.js';
import { OUTBOX_JOURNAL } from '../../src/journal/journal-names.js';
import { cliPath } from '../e2e/support/cli.js';
import { metricSample, outboxDepth } from '../e2e/support/outbox-gauge.js';
import { TEST_RETRY_ARGS } from '../e2e/support/reporting-lab.js';
import { pushedDigest, startAttestingProxy } from '../support/attesting-proxy.js';
import { cosignVerifyAttestation } from '../support/cosign.js';
import { type FaultRule, startFaultProxy } from '../support/fault-proxy.js';
import { startLab } from '../support/lab.js';
import { runCommand } from '../support/run-command.js';
import { waitUntil } from '../support/wait-until.js';

const SINK = 'registry-attestations';
const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

const lab = await startLab({
  name: 'attestation-outbox',
  teardown: (fn) => t.teardown(fn),
  registries: ['open'],
  withProxy: false,
});
const open = lab.registry('open');
const fault = await startFaultProxy(open, lab.ca);
t.teardown(() => fault.close());
const { proxy, clients, publicKeyPem, attached } = await startAttestingProxy(
  lab,
  (fn) => t.teardown(fn),
  TEST_RETRY_ARGS,
);
const digestOf = pushedDigest;

/** A GET the fault proxy answers itself, once, with `status` (a 401 with the registry's challenge). */
function answering(name: string, path: RegExp, status: number): FaultRule {
  const headers: Record<string, string> =
    status === 401 ? { 'www-authenticate': 'Basic realm="registry"' } : {};
  return { name, method: 'GET', path, action: { kind: 'respond', status, headers } };
}

/** The .att manifest of `repository`, as the registry holds it (null: not there). */
async function attOf(repository: string, digest: string): Promise<{ layers: unknown[] } | null> {
  const response = await open.directClient().request({
    path: `/v2/${repository}/manifests/${attestationTag(digest)}`,
    headers: { accept: MANIFEST_MEDIA_TYPE },
  });
  return response.status === 200 ? (JSON.parse(response.body.toString()) as { layers: unknown[] }) : null;
}

/** Retries the outbox scheduled for the attestation sink with this cause (since the last start). */
async function retried(cause: string): Promise<number> {
  return (
    metricSample(await proxy.metrics(), 'provenance_proxy_reports_total', {
      sink: SINK,
      result: 'retried',
      cause,
    }) ?? 0
  );
}

/** The outbox journal's deliveries to the attestation sink: enqueued report ids, and those delivered. */
async function outboxFile(): Promise<{ enqueued: string[]; delivered: string[] }> {
  const lines = (await readFile(join(proxy.dataDir, OUTBOX_JOURNAL), 'utf8'))
    .split('\n')
    .filter((line) => line !== '')
    .map(
      (line) =>
        JSON.parse(line) as { kind: string; data: { reportId: string; sinks?: string[]; sink?: string } },
    );
  return {
    enqueued: lines
      .filter((line) => line.kind === 'enqueued' && (line.data.sinks ?? []).includes(SINK))
      .map((line) => line.data.reportId),
    delivered: lines
      .filter((line) => line.kind === 'delivered' && line.data.sink === SINK)
      .map((line) => line.data.reportId),
  };
}

t.test(
  '500, 401, a reset and an outage: held in the outbox, then attached exactly once across a kill -9',
  async (t) => {
    const att = /^\/v2\/outbox\/retry\/manifests\/sha256-[0-9a-f]{64}\.att$/;
    // Each attempt starts by reading the .att tag. Rules are tried in order; the first that still
    // has faults to give applies.
    fault.addRule(answering('att-500', att, 500));
    fault.addRule(answering('att-401', att, 401));
    // The third attempt reads (skip) and uploads, and its manifest PUT is reset after one byte.
    fault.addRule({ name: 'att-reset', method: 'PUT', path: att, action: { kind: 'reset-after', bytes: 1 } });
    fault.addRule({
      name: 'att-down',
      method: 'GET',
      path: att,
      skip: 1,
      times: Number.MAX_SAFE_INTEGER,
      action: { kind: 'respond', status: 503 },
    });

    const digest = digestOf(
      await clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${fault.host}/outbox/retry:v1`),
    );
    await waitUntil(
      async () => (fault.events.filter((event) => event.rule === 'att-down').length >= 2 ? true : undefined),
      { what: 'the attachment retried into the outage', attempts: 300, intervalMs: 100 },
    );
    t.same(
      ['att-500', 'att-401', 'att-reset'].map((rule) => fault.events.filter((e) => e.rule === rule).length),
      [1, 1, 1],
      'each fault was met once, in order',
    );
    for (const cause of ['http_500', 'http_401', 'network', 'http_503'])
      t.ok((await retried(cause)) >= 1, `retried after ${cause}`);
    t.ok((await outboxDepth(proxy, SINK)) >= 1, 'the outbox holds the attachment');
    const held = await outboxFile();
    t.equal(held.enqueued.length, 1, 'one attachment enqueued in the outbox file');
    t.same(held.delivered, [], 'and not delivered');
    t.equal(await attOf('outbox/retry', digest), null, 'nothing half-written in the registry');
    t.same(await attached('outbox/retry'), [], 'nothing recorded as attached');

    // The proxy keeps serving meanwhile: a push straight to the registry goes through and is attested.
    const other = digestOf(
      await clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${open.host}/outbox/healthy:v1`),
    );
    await waitUntil(async () => ((await attOf('outbox/healthy', other)) === null ? undefined : true), {
      what: 'the attestation of a push made during the outage',
      attempts: 150,
      intervalMs: 200,
    });

    // Healthy again, but the registry's answer to the .att PUT is held: it has stored the manifest,
    // the proxy does not know. The proxy dies right then and starts again from its outbox.
    fault.retire('att-down');
    fault.addRule({ name: 'att-held', method: 'PUT', path: att, action: { kind: 'hold-response' } });
    await fault.fired('att-held');
    await proxy.kill('SIGKILL');
    fault.releaseStalls();
    t.not(await attOf('outbox/retry', digest), null, 'the registry stored the .att before the kill');
    await proxy.restart();

    const [entry] = await waitUntil(
      async () => {
        const entries = await attached('outbox/retry');
        return entries.length > 0 ? entries : undefined;
      },
      { what: 'the attachment recorded after the restart', attempts: 300, intervalMs: 100 },
    );
    t.equal(entry?.subject, digest);
    t.equal(entry?.alreadyPresent, true, 'after the restart the .att was found, not written again');
    t.equal((await attached('outbox/retry')).length, 1, 'recorded once');
    await waitUntil(async () => ((await outboxDepth(proxy, SINK)) === 0 ? true : undefined), {
      what: 'an empty outbox',
      attempts: 300,
      intervalMs: 100,
    });
    t.same((await outboxFile()).delivered, held.enqueued, 'the outbox file says delivered');

    t.equal((await attOf('outbox/retry', digest))?.layers.length, 1, 'one attestation layer');
    const stored = (await open.requestLog()).filter(
      (entry) => entry.method === 'PUT' && att.test(entry.path) && entry.status === 201,
    );
    t.equal(stored.length, 1, 'the registry stored the .att manifest exactly once');
    const cosign = await cosignVerifyAttestation(
      lab.directClients,
      lab.dir,
      publicKeyPem,
      `${open.host}/outbox/retry@${digest}`,
    );
    t.equal(cosign.code, 0, `cosign verifies it: ${cosign.stderr}`);
  },
);

t.test(
  '403 DENIED on the attestation write: dead-lettered at once, loudly; the proxy serves on',
  async (t) => {
    const att = /^\/v2\/outbox\/denied\/manifests\/sha256-[0-9a-f]{64}\.att$/;
    fault.addRule({
      name: 'att-denied',
      method: 'PUT',
      path: att,
      action: {
        kind: 'respond',
        status: 403,
        body: JSON.stringify({
          errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }],
        }),
      },
    });
    const digest = digestOf(
      await clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${fault.host}/outbox/denied:v1`),
    );
    const letter = await waitUntil(
      async () => {
        const listed = await runCommand(process.execPath, [
          cliPath(),
          'outbox',
          'list',
          '--data-dir',
          proxy.dataDir,
          '--json',
        ]);
        const letters = (
          JSON.parse(listed.stdout) as {
            deadLetters: {
              sink: string;
              code: string;
              cause: string;
              attempts: number;
              subjects: string[];
            }[];
          }
        ).deadLetters;
        return letters.find((l) => l.sink === SINK);
      },
      { what: 'the dead letter of the denied attachment', attempts: 150, intervalMs: 200 },
    );
    t.equal(letter.code, 'ERR_ATTESTATION_DENIED');
    t.equal(letter.cause, 'http_403_denied');
    t.equal(letter.attempts, 1, 'not retried');
    t.equal(
      metricSample(await proxy.metrics(), 'provenance_proxy_report_dead_letters_total', { sink: SINK }),
      1,
      'counted',
    );
    const log = await readFile(proxy.logPath, 'utf8');
    t.match(
      log,
      /"level":"error"[^\n]*denied the attestation \(403 DENIED\)[^\n]*dead letter/,
      'logged as an error',
    );
    t.equal(
      await attOf('outbox/denied', digest),
      null,
      'no later attempt wrote it (the fault was given once)',
    );
    t.same(await attached('outbox/denied'), [], 'not recorded as attached');
    t.equal(fault.events.filter((e) => e.rule === 'att-denied').length, 1);
    t.equal((await proxy.control('/readyz')).status, 200, 'the proxy is still ready');

    // Once the registry allows it, the operator resends the letter with the proxy's own client.
    const resent = await runCommand(process.execPath, [
      cliPath(),
      'outbox',
      'resend',
      '--data-dir',
      proxy.dataDir,
      '--attach-attestations',
      '--upstream-ca',
      lab.ca.caCertPath,
    ]);
    t.equal(resent.code, 0, `outbox resend: ${resent.stdout}${resent.stderr}`);
    t.match(resent.stdout, `attached ${fault.host}/outbox/denied:${attestationTag(digest)}`);
    t.equal((await attOf('outbox/denied', digest))?.layers.length, 1, 'the .att is stored');
    // Signed after the restart above: by the restarted proxy's (ephemeral) key.
    const currentKey = (JSON.parse((await proxy.control('/v1/public-key')).body) as { publicKeyPem: string })
      .publicKeyPem;
    const cosign = await cosignVerifyAttestation(
      lab.directClients,
      lab.dir,
      currentKey,
      `${open.host}/outbox/denied@${digest}`,
    );
    t.equal(cosign.code, 0, `cosign verifies the resent attestation: ${cosign.stderr}`);
  },
);

t.test('the referrers probe: a 503 is retried, a 401 means no referrers route here', async (t) => {
  const probe = /^\/v2\/outbox\/probe\/referrers\/sha256:[0-9a-f]{64}$/;
  fault.addRule(answering('probe-503', probe, 503));
  fault.addRule(answering('probe-401', probe, 401));
  const digest = digestOf(
    await clients.skopeoCopy(lab.fixtures.ref('single'), `docker://${fault.host}/outbox/probe:v1`),
  );
  const [entry] = await waitUntil(
    async () => {
      const entries = await attached('outbox/probe');
      return entries.length > 0 ? entries : undefined;
    },
    { what: 'the attachment of outbox/probe', attempts: 300, intervalMs: 100 },
  );
  t.same(
    ['probe-503', 'probe-401'].map((rule) => fault.events.filter((e) => e.rule === rule).length),
    [1, 1],
    'the probe was asked again after the 503',
  );
  t.same(entry?.referrer, { outcome: 'referrers-api-absent', status: 401 }, 'recorded with the answer');
  t.equal(entry?.alreadyPresent, true, 'the retry found the .att the first attempt wrote');
  t.equal((await attOf('outbox/probe', digest))?.layers.length, 1, 'one attestation layer');
});
