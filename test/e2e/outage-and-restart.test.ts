// Issue 4, items 4 and 11: outages and restarts for real. The store (a `provenance-proxy store`
// process on PGlite) is stopped while skopeo pushes through the proxy, the proxy is killed with
// SIGKILL during the outage, both are started again on the same data directories and ports, and
// every push the registry acknowledged must then be in the store exactly once: no loss, no
// duplicates, also after further restarts (a–c). A relay in front of the store loses the store's
// answer after it committed, once with the proxy alive and once killed before it hears back (d).
// (e) holds the build statement to "all subjects" across a restart mid-build.
import t, { type Test } from 'tap';
import type { FIXTURE } from '../support/fixture-images.js';
import { readRegistryContents } from '../support/ground-truth.js';
import type { RunningProxy } from '../support/proxy.js';
import { waitUntil } from '../support/wait-until.js';
import { type RelayedRequest, startAnswerRelay } from './support/answer-relay.js';
import { outboxDepth, retriedDeliveries } from './support/outbox-gauge.js';
import {
  type AcknowledgedPush,
  awaitOccurrence,
  labPath,
  pushThroughProxy,
  type ReportingProxy,
  registryDigest,
  startReportingLab,
  startReportingProxy,
} from './support/reporting-lab.js';
import { prepareStore } from './support/store-process.js';
import {
  countByResource,
  imageResourceUrl,
  listBuildOccurrences,
  reportKindOf,
} from './support/store-reader.js';

const SINK = 'grafeas';

const { lab, registry, keys } = await startReportingLab('e2e-outage', (fn) => t.teardown(fn));
// One store for the whole file, stopped and started again on the same data directory and port;
// each scenario reports to its own project so the counts stay apart.
const store = await prepareStore({ home: labPath(lab, 'store') });
t.teardown(() => store.stop());
await store.start();

/** Proxy B of scenario (b), reused by (c) and (e): restarted on its data directory, never replaced. */
let proxyB: ReportingProxy | undefined;
// Registered here, not in (b): (c) and (e) use the same proxy, so it must outlive (b).
t.teardown(() => proxyB?.proxy.stop());
const pushesB: AcknowledgedPush[] = [];

t.test('(a) store stopped while two images are pushed, then started again: each reported once', async (t) => {
  const project = 'e2e-outage-a';
  const { proxy, clients } = await startReportingProxy({
    lab,
    dir: labPath(lab, 'a'),
    storeUrl: store.url,
    project,
    signingKeyPath: keys.privatePath,
  });
  t.teardown(() => proxy.stop());
  const push = (fixture: Fixture, repository: string) =>
    pushThroughProxy(clients, lab, registry, fixture, repository, 'v1');

  const before = await push('single', 'outage-a/before');
  await awaitOccurrence(store.url, project, before.resourceUrl);
  t.pass('with the store up, the first push is reported');

  await store.stop();
  const during = [await push('single', 'outage-a/one'), await push('multi', 'outage-a/two')];
  await awaitHeldReports(proxy, during.length);
  t.pass('the reports of both pushes wait in the outbox, retried while the store is down');

  await store.start();
  await awaitOutboxEmpty(proxy);
  const pushes = [before, ...during];
  await assertReportedOnce(t, project, pushes, { image: 1, build: 0 });
  await assertAcknowledgedByRegistry(t, pushes);

  // A clean stop drains the outbox before the exit, build statement included: once per image too.
  await proxy.kill('SIGTERM');
  await assertReportedOnce(t, project, pushes, { image: 1, build: 1 });
});

t.test('(b) store down, proxy killed with SIGKILL, both restarted: every push reported once', async (t) => {
  const project = 'e2e-outage-b';
  await store.stop();
  proxyB = await startReportingProxy({
    lab,
    dir: labPath(lab, 'b'),
    storeUrl: store.url,
    project,
    signingKeyPath: keys.privatePath,
  });
  const { proxy, clients } = proxyB;
  for (const [fixture, repository] of [
    ['single', 'outage-b/one'],
    ['multi', 'outage-b/two'],
  ] as const) {
    pushesB.push(await pushThroughProxy(clients, lab, registry, fixture, repository, 'v1'));
  }
  await awaitHeldReports(proxy, pushesB.length);
  const imagesBefore = await pushedImages(proxy);

  await proxy.kill('SIGKILL');
  await proxy.restart();
  t.same(imagesBefore, pushesB.map((p) => p.reference).sort(), '/v1/images: the acknowledged pushes');
  t.same(await pushedImages(proxy), imagesBefore, '/v1/images lists the same images after the restart');
  t.equal(await outboxDepth(proxy, SINK), pushesB.length, 'the outbox replayed both undelivered reports');

  await store.start();
  await awaitOutboxEmpty(proxy);
  await assertReportedOnce(t, project, pushesB, { image: 1, build: 0 });
  await assertAcknowledgedByRegistry(t, pushesB);
});

t.test('(c) restarting the proxy after everything was delivered delivers nothing twice', async (t) => {
  if (proxyB === undefined) {
    t.fail('scenario (b) did not start its proxy');
    return;
  }
  const project = 'e2e-outage-b';
  const { proxy, clients } = proxyB;
  // restart() stops with SIGTERM: the build statement goes out before the exit, then the proxy
  // starts again on the same data directory and re-derives every report it ever made.
  await proxy.restart();
  // Had the stop run out of time, the build report would be pending now and delivered here.
  await awaitOutboxEmpty(proxy);
  await assertReportedOnce(t, project, pushesB, { image: 1, build: 1 });

  // Reports are signed and enqueued one at a time, in order: once a push made after the restart
  // is in the store and the outbox is empty, whatever the restart re-derived has been dealt with.
  const marker = await pushThroughProxy(clients, lab, registry, 'single', 'outage-b/after-restart', 'v1');
  await awaitOccurrence(store.url, project, marker.resourceUrl);
  await awaitOutboxEmpty(proxy);
  await assertReportedOnce(t, project, pushesB, { image: 1, build: 1 }, [marker.resourceUrl]);
  const counts = countByResource(await listBuildOccurrences(store.url, project));
  t.same(counts.get(marker.resourceUrl), { image: 1, build: 0 }, 'the push after the restart: once');
});

t.test('(d) the store commits but its answer is lost, also across a SIGKILL: no duplicate', async (t) => {
  const project = 'e2e-outage-d';
  const relay = await startAnswerRelay(store.url);
  t.teardown(() => relay.close());
  const { proxy, clients } = await startReportingProxy({
    lab,
    dir: labPath(lab, 'd'),
    storeUrl: relay.url,
    project,
    signingKeyPath: keys.privatePath,
  });
  t.teardown(() => proxy.stop());
  const createOccurrence = /^\/v1\/projects\/[^/]+\/occurrences(?::batchCreate)?$/;
  const creates = (requests: readonly RelayedRequest[]) =>
    requests.filter((r) => r.method === 'POST' && createOccurrence.test(r.target));
  const lookups = (requests: readonly RelayedRequest[], push: AcknowledgedPush) =>
    requests.filter((r) => r.method === 'GET' && listFilter(r.target)?.includes(push.resourceUrl) === true);

  // The connection breaks after the store committed: the sink retries in the same process.
  const dropped = relay.loseNextAnswer({ method: 'POST', path: createOccurrence, action: 'drop' });
  const first = await pushThroughProxy(clients, lab, registry, 'single', 'outage-d/dropped', 'v1');
  const drop = await dropped;
  t.equal(drop.status, 200, 'the store committed the occurrence; the proxy never got the answer');
  await awaitOutboxEmpty(proxy);
  await assertReportedOnce(t, project, [first], { image: 1, build: 0 });
  const retried = relay.requests().filter((r) => r.seq > drop.seq);
  t.ok(lookups(retried, first).length > 0, 'the sink tried again and found the occurrence stored');
  t.equal(creates(retried).length, 0, 'so it did not write it again');

  // The answer is held and the proxy is killed before it hears back: the outbox has no outcome.
  const held = relay.loseNextAnswer({ method: 'POST', path: createOccurrence, action: 'hold' });
  const second = await pushThroughProxy(clients, lab, registry, 'multi', 'outage-d/held', 'v1');
  t.equal((await held).status, 200, 'the store committed the occurrence; its answer is held');
  await proxy.kill('SIGKILL');
  relay.releaseHeld();
  const beforeRestart = relay.requests().length;
  await proxy.restart();
  await awaitOutboxEmpty(proxy);
  await assertReportedOnce(t, project, [first, second], { image: 1, build: 0 });
  const redelivered = relay.requests().slice(beforeRestart);
  t.ok(lookups(redelivered, second).length > 0, 'after the restart the report was delivered again…');
  t.equal(creates(redelivered).length, 0, '…and recognised as already stored');
});

t.test(
  '(e) an output pushed after a SIGTERM restart is in the build statement sent at the next SIGTERM',
  async (t) => {
    // A sidecar restarted mid-build (liveness probe, node pressure) is stopped with SIGTERM, finalizes,
    // and comes back on the same data directory while the build goes on pushing. The build statement
    // sent at the real end must then name every output (issue 4 item 2: "the complete build
    // statement (all subjects …)"), not only those of the first stop.
    if (proxyB === undefined || pushesB.length === 0) {
      t.fail('scenarios (b) and (c) did not run');
      return;
    }
    const project = 'e2e-outage-b';
    const { proxy } = proxyB;
    const marker = imageResourceUrl(registry.host, 'outage-b/after-restart', await markerDigest());
    await proxy.kill('SIGTERM');
    const occurrences = await listBuildOccurrences(store.url, project);
    const latestBuild = occurrences
      .filter((o) => reportKindOf(o) === 'build')
      .sort((a, b) => Date.parse(a.createTime) - Date.parse(b.createTime))
      .at(-1);
    t.ok(latestBuild, 'a build statement is in the store');
    t.same(
      countByResource(occurrences).get(marker),
      { image: 1, build: 1 },
      'the output pushed after the restart is named by a build statement too',
    );
    t.ok(
      latestBuild?.statement.subject.some((s) => `https://${s.name}@sha256:${s.digest?.sha256}` === marker),
      'the last build statement sent names every output of the build',
    );
  },
);

type Fixture = (typeof FIXTURE)[keyof typeof FIXTURE];

/** The digest the registry holds for the image (c) pushed after the restart. */
async function markerDigest(): Promise<string> {
  const digest = await registryDigest(registry, 'outage-b/after-restart', 'v1');
  if (digest === undefined) throw new Error('scenario (c) pushed no outage-b/after-restart:v1');
  return digest;
}

/** The `filter` of a list request, or undefined when there is none. */
function listFilter(target: string): string | undefined {
  const query = target.indexOf('?');
  return query < 0 ? undefined : (new URLSearchParams(target.slice(query + 1)).get('filter') ?? undefined);
}

/** Waits until the outbox holds `count` reports for the store and has retried at least one. */
async function awaitHeldReports(proxy: RunningProxy, count: number): Promise<void> {
  await waitUntil(
    async () => (await outboxDepth(proxy, SINK)) === count && (await retriedDeliveries(proxy, SINK)) > 0,
    { what: `${count} reports held in the outbox, retrying`, attempts: 200, intervalMs: 50 },
  );
}

/** Waits (bounded: the retry ceiling is 250 ms in these tests) until every report was delivered. */
async function awaitOutboxEmpty(proxy: RunningProxy): Promise<void> {
  await waitUntil(async () => (await outboxDepth(proxy, SINK)) === 0, {
    what: 'the outbox to deliver everything',
    attempts: 300,
    intervalMs: 50,
  });
}

/**
 * The store holds, per pushed image, exactly `expected` occurrences of each report kind, and
 * nothing about other resources besides `others`.
 */
async function assertReportedOnce(
  t: Test,
  project: string,
  pushes: readonly AcknowledgedPush[],
  expected: { image: number; build: number },
  others: readonly string[] = [],
): Promise<void> {
  const counts = countByResource(await listBuildOccurrences(store.url, project));
  t.same(
    [...counts.keys()].sort(),
    [...pushes.map((p) => p.resourceUrl), ...others].sort(),
    `${project}: occurrences for the acknowledged pushes and nothing else`,
  );
  for (const push of pushes) {
    t.same(
      counts.get(push.resourceUrl),
      expected,
      `${push.repository}: ${expected.image} image and ${expected.build} build occurrence(s)`,
    );
  }
}

/** What the registry holds under each pushed tag is what was reported: the ground truth agrees. */
async function assertAcknowledgedByRegistry(t: Test, pushes: readonly AcknowledgedPush[]): Promise<void> {
  const repositories = new Set(pushes.map((p) => p.repository));
  const contents = await readRegistryContents(registry, {
    includeRepository: (name) => repositories.has(name),
  });
  const held = contents.repositories.flatMap((repository) =>
    Object.values(repository.tags).map((digest) => imageResourceUrl(registry.host, repository.name, digest)),
  );
  t.same(
    held.sort(),
    pushes.map((p) => p.resourceUrl).sort(),
    'the registry holds exactly what was reported',
  );
}

/** `registry/repository@digest` of every image on the proxy's /v1/images, sorted. */
async function pushedImages(proxy: RunningProxy): Promise<string[]> {
  return (await proxy.images())
    .map((image) => `${image.registry}/${image.repository}@${image.digest}`)
    .sort();
}
