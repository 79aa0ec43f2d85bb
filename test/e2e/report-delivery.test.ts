// Issue 8, probe 3 and "reports are never silently dropped", against the real store (a
// `provenance-proxy store` process on PGlite, with a token and the smallest body limit the proxy
// supports) and the real proxy:
// (a) the proxy's token is wrong (401): reports are kept, retried, loud (log, metric, /readyz), and
//     arrive exactly once when the token is fixed;
// (b) the store proves a payload malformed (400 INVALID_ARGUMENT, from a relay: the real store
//     cannot be made to refuse a report the proxy builds): parked in the dead-letter file, listed
//     by `provenance-proxy outbox list`, re-sent by `outbox resend` once the store is fixed;
// (c) a hostile build touching 5,000 hosts and pushing many long tags: every report still fits the
//     store's 1 MiB limit and is accepted; the journal keeps every host.
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { writeTokensFile } from '../store/store-tokens.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { RegistryClient } from '../support/registry-client.js';
import { runCommand } from '../support/run-command.js';
import { waitUntil } from '../support/wait-until.js';
import { cliPath } from './support/cli.js';
import { metricSample, outboxDepth } from './support/outbox-gauge.js';
import { startRefusingRelay } from './support/refusing-relay.js';
import { labPath, pushThroughProxy, startReportingLab, TEST_RETRY_ARGS } from './support/reporting-lab.js';
import { prepareStore } from './support/store-process.js';

const STORE_TOKEN = 'store-token-5f1c0a7e9b';
const STORE_LIMIT = 1024 * 1024;

const { lab, registry, keys } = await startReportingLab('e2e-delivery', (fn) => t.teardown(fn));
// What the proxy presents to the store (--grafeas-token-file).
const storeTokenFile = labPath(lab, 'store-token');
await writeFile(storeTokenFile, `${STORE_TOKEN}\n`, { mode: 0o600 });
// The sidecars' credential: a writer (it can also read, which the assertions below need).
const storeTokensFile = await writeTokensFile(labPath(lab, '.'), [
  { name: 'sidecars', role: 'writer', projects: ['*'], token: STORE_TOKEN },
]);
const store = await prepareStore({
  home: labPath(lab, 'store'),
  tokensFile: storeTokensFile,
  extraArgs: ['--max-body-bytes', String(STORE_LIMIT)],
});
t.teardown(() => store.stop());
await store.start();

async function startReporting(dir: string, grafeasUrl: string, project: string, tokenFile: string) {
  const proxy = await startProxy({
    dir: labPath(lab, dir),
    upstreamCaPath: lab.ca.caCertPath,
    extraArgs: [
      '--signing-key',
      keys.privatePath,
      '--grafeas-url',
      grafeasUrl,
      '--grafeas-project',
      project,
      '--grafeas-token-file',
      tokenFile,
      '--shutdown-grace',
      '20s',
      ...TEST_RETRY_ARGS,
    ],
  });
  const clients = lab.directClients.withRoute({
    proxyUrl: proxy.url,
    get trust() {
      return proxy.trust;
    },
  });
  return { proxy, clients };
}

/** BUILD occurrences of a project, read with the store's token (plain fetch, as a third party would). */
async function occurrences(project: string): Promise<Array<{ resourceUri: string; payload: string }>> {
  const found: Array<{ resourceUri: string; payload: string }> = [];
  let pageToken = '';
  do {
    const query = new URLSearchParams({ pageSize: '500', ...(pageToken ? { pageToken } : {}) });
    const response = await fetch(`${store.url}/v1/projects/${project}/occurrences?${query}`, {
      headers: { authorization: `Bearer ${STORE_TOKEN}` },
    });
    const body = (await response.json()) as {
      occurrences?: Array<{ resourceUri: string; envelope: { payload: string } }>;
      nextPageToken?: string;
    };
    if (response.status !== 200) throw new Error(`listing answered ${response.status}`);
    for (const o of body.occurrences ?? [])
      found.push({ resourceUri: o.resourceUri, payload: o.envelope.payload });
    pageToken = body.nextPageToken ?? '';
  } while (pageToken !== '');
  return found;
}

const metric = async (proxy: RunningProxy, name: string, labels: Record<string, string>) =>
  metricSample(await proxy.metrics(), name, labels) ?? 0;

function outboxCli(args: string[]) {
  return runCommand(process.execPath, [cliPath(), 'outbox', ...args], { timeoutMs: 60_000 });
}

t.test('(a) a wrong token: reports wait, loud, and arrive exactly once when it is fixed', async (t) => {
  const project = 'delivery-a';
  const tokenFile = labPath(lab, 'a-token');
  await writeFile(tokenFile, 'wrong-token-3d9e\n', { mode: 0o600 });
  const { proxy, clients } = await startReporting('a', store.url, project, tokenFile);
  t.teardown(() => proxy.stop());

  const push = await pushThroughProxy(clients, lab, registry, 'single', 'delivery-a/img', 'v1');
  const readyz = await waitUntil(
    async () => {
      const answer = await proxy.control('/readyz');
      return /reports failing auth: sink grafeas answers 401/.test(answer.body) ? answer : undefined;
    },
    { what: '/readyz naming the auth failure', attempts: 400, intervalMs: 25 },
  );
  t.equal(readyz.status, 200, 'still ready: the proxy records; only reporting waits');
  t.ok(
    (await metric(proxy, 'provenance_proxy_report_auth_failures_total', {
      sink: 'grafeas',
      status: '401',
    })) >= 1,
  );
  t.ok((await outboxDepth(proxy, 'grafeas')) >= 1, 'the report is held, not dropped');
  t.same(await occurrences(project), [], 'nothing reached the store');

  await writeFile(tokenFile, `${STORE_TOKEN}\n`);
  await waitUntil(async () => ((await occurrences(project)).length > 0 ? true : undefined), {
    what: 'the report in the store',
    attempts: 400,
    intervalMs: 25,
  });
  await waitUntil(async () => ((await outboxDepth(proxy, 'grafeas')) === 0 ? true : undefined), {
    what: 'an empty outbox',
    attempts: 400,
    intervalMs: 25,
  });
  const stored = (await occurrences(project)).filter((o) => o.resourceUri === push.resourceUrl);
  t.equal(stored.length, 1, 'exactly once');
  t.notMatch((await proxy.control('/readyz')).body, /failing auth/, 'the readiness detail is gone');
  const log = await readFile(proxy.logPath, 'utf8');
  t.match(log, /refused the proxy's credentials \(http_401\)/, 'logged as an error');
  t.notMatch(log, STORE_TOKEN, 'the token never reaches the log');
  t.notMatch(log, 'wrong-token-3d9e');
});

t.test(
  '(b) a payload the store calls malformed: parked, listed, re-sent once the store is fixed',
  async (t) => {
    const project = 'delivery-b';
    const relay = await startRefusingRelay(store.url);
    t.teardown(() => relay.close());
    const { proxy, clients } = await startReporting('b', relay.url, project, storeTokenFile);
    t.teardown(() => proxy.stop());

    const push = await pushThroughProxy(clients, lab, registry, 'single', 'delivery-b/img', 'v1');
    await waitUntil(
      async () =>
        (await metric(proxy, 'provenance_proxy_report_dead_letters_total', {
          sink: 'grafeas',
          cause: 'http_400',
        })) >= 1
          ? true
          : undefined,
      { what: 'a dead letter', attempts: 400, intervalMs: 25 },
    );
    t.equal(relay.refused, 1, 'refused once, not retried');
    t.equal(await outboxDepth(proxy, 'grafeas'), 0, 'no longer pending in the outbox');

    const resend = (grafeasUrl: string, ...extra: string[]) =>
      outboxCli([
        'resend',
        '--data-dir',
        proxy.dataDir,
        ...extra,
        '--grafeas-url',
        grafeasUrl,
        '--grafeas-project',
        project,
        '--grafeas-token-file',
        storeTokenFile,
      ]);
    const listed = await outboxCli(['list', '--data-dir', proxy.dataDir, '--json']);
    t.equal(listed.code, 0, listed.stderr);
    const { deadLetters } = JSON.parse(listed.stdout) as {
      deadLetters: Array<{
        id: string;
        sink: string;
        kind: string;
        cause: string;
        message: string;
        resentAt: null | string;
        subjects: string[];
      }>;
    };
    t.match(deadLetters, [
      {
        sink: 'grafeas',
        kind: 'image',
        cause: 'http_400',
        message: /INVALID_ARGUMENT: Invalid value at occurrence/,
        resentAt: null,
        subjects: [`${registry.host}/delivery-b/img`],
      },
    ]);
    const text = await outboxCli(['list', '--data-dir', proxy.dataDir]);
    t.match(text.stdout, new RegExp(`${deadLetters[0]!.id}  parked  sink=grafeas`));

    // Still refused: resend says so and exits incomplete (13); the letter stays parked.
    const early = await resend(relay.url);
    t.equal(early.code, EXIT.incomplete.status, 'still refused: exit incomplete');
    t.match(early.stdout, /still refused by grafeas/);

    relay.refuse = false;
    const resent = await resend(store.url);
    t.equal(resent.code, 0, resent.stdout + resent.stderr);
    t.match(resent.stdout, /1 of 1 resent/);
    const stored = (await occurrences(project)).filter((o) => o.resourceUri === push.resourceUrl);
    t.equal(stored.length, 1, 'the image report is in the store once');

    const again = await resend(store.url, '--id', deadLetters[0]!.id);
    t.equal(again.code, 0, 'resending again is safe');
    t.equal(
      (await occurrences(project)).filter((o) => o.resourceUri === push.resourceUrl).length,
      1,
      'still once',
    );
    const after = JSON.parse((await outboxCli(['list', '--data-dir', proxy.dataDir, '--json'])).stdout) as {
      deadLetters: Array<{ resentAt: string | null }>;
    };
    t.equal(after.deadLetters.length, 1, 'the dead letter is kept');
    t.type(after.deadLetters[0]!.resentAt, 'string', 'and marked resent');

    const usage = await outboxCli(['resend', '--data-dir', proxy.dataDir]);
    t.equal(usage.code, EXIT.usage.status, 'no sink given: usage error');
  },
);

/** Plain-HTTP requests through the proxy to `count` closed loopback addresses: each a host of its own. */
async function touchHosts(proxy: RunningProxy, count: number): Promise<void> {
  const proxyUrl = new URL(proxy.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = next++;
      // 127.0.0.0/8 is all loopback; port 9 (discard) is closed: the proxy answers 502, counts the host.
      const authority = `127.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}:9`;
      await new Promise<void>((resolve, reject) => {
        const req = http.request({
          host: proxyUrl.hostname,
          port: proxyUrl.port,
          path: `http://${authority}/hostile/${n}`,
          headers: { host: authority },
          agent,
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  agent.destroy();
}

t.test(
  '(c) a hostile build touching 5,000 hosts with many long tags: every report fits and is accepted',
  async (t) => {
    const project = 'delivery-c';
    const { proxy, clients } = await startReporting('c', store.url, project, storeTokenFile);
    let stopped = false;
    t.teardown(() => (stopped ? undefined : proxy.stop()));

    await touchHosts(proxy, 5000);
    const push = await pushThroughProxy(clients, lab, registry, 'single', 'delivery-c/img', 'base');
    // The same manifest under 60 more tags of the longest length OCI allows: each tag set is news,
    // so each is a report of its own, with an ever longer tag list.
    const client = new RegistryClient({
      host: registry.host,
      ca: proxy.trust.caPem,
      proxy: { url: proxy.url },
    });
    const manifest = await client.request({
      path: `/v2/delivery-c/img/manifests/base`,
      headers: {
        accept:
          'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
      },
    });
    t.equal(manifest.status, 200);
    const tags = Array.from({ length: 60 }, (_, i) => `t${String(i).padStart(3, '0')}-${'x'.repeat(123)}`);
    for (const tag of tags) {
      const put = await client.request({
        method: 'PUT',
        path: `/v2/delivery-c/img/manifests/${tag}`,
        headers: { 'content-type': String(manifest.headers['content-type']) },
        body: manifest.body,
      });
      t.equal(put.status, 201, `tag ${tag.slice(0, 4)} pushed`);
    }
    stopped = true;
    await proxy.stop(); // SIGTERM: finalize, drain the outbox within the grace period

    const listed = await outboxCli(['list', '--data-dir', proxy.dataDir, '--json']);
    t.same(JSON.parse(listed.stdout).deadLetters, [], 'no report was refused');
    const stored = await occurrences(project);
    const statements = stored.map((o) => Buffer.from(o.payload, 'base64'));
    t.ok(stored.length >= 2, `${stored.length} occurrences: image reports and the build report`);
    t.ok(stored.every((o) => o.resourceUri === push.resourceUrl));
    const largest = Math.max(...statements.map((s) => s.length));
    t.ok(largest <= 128 * 1024, `largest statement ${largest} bytes, within the 128 KiB budget`);
    const build = statements
      .map((s) => JSON.parse(s.toString('utf8')))
      .find((s) => s.predicate.runDetails.metadata.finishedOn !== undefined);
    t.ok(build, 'the build report arrived');
    const egress = build.predicate.runDetails.byproducts.find(
      (b: { name: string }) => b.name === 'egress-summary',
    );
    t.equal(egress.annotations.hosts.length, 50, 'the top 50 hosts by bytes are named');
    t.ok(egress.annotations.otherHosts.count >= 4950, `${egress.annotations.otherHosts.count} more summed`);
    const subject = build.subject[0];
    t.ok(subject.annotations.tags.length <= 61, 'the tag list is bounded');

    // The journal keeps every host, for whoever needs more than the statement says.
    const journal = await readFile(join(proxy.dataDir, 'observations.jsonl'), 'utf8');
    const journaled = new Set<string>();
    for (const line of journal.split('\n')) {
      if (!line.includes('"egress.hosts"')) continue;
      for (const host of JSON.parse(line).data.hosts) journaled.add(host.authority);
    }
    t.ok(journaled.size >= 5000, `${journaled.size} hosts journaled`);

    // After a restart the statement still accounts for every host: the tallies come back from the journal.
    await proxy.restart();
    t.teardown(() => proxy.stop());
    const restarted = (await proxy.provenance()).predicate.runDetails.byproducts?.find(
      (b) => b.name === 'egress-summary',
    )?.annotations as { hosts: unknown[]; otherHosts: { count: number } };
    t.equal(
      restarted.hosts.length + restarted.otherHosts.count,
      egress.annotations.hosts.length + egress.annotations.otherHosts.count,
      'the same hosts after a restart',
    );
  },
);
