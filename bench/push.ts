/**
 * A real push of one large image with skopeo, straight to Debian's docker-registry (TLS from a
 * test CA) and through the proxy, alternating in one run so machine noise hits both sides
 * alike. Every run pushes into a registry of its own, empty, so nothing is skipped by a HEAD or
 * a mount: each run is checked to have uploaded the layer, and each proxied run to have been
 * recorded with the digest the registry holds. Prints throughputs and ratios.
 *
 *   npm run bench:push                      # 512 MiB layer
 *   BENCH_PUSH_MIB=64 npm run bench:push    # a quick look
 */
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Clients } from '../test/support/clients.js';
import { readManifest } from '../test/support/ground-truth.js';
import { blobDigest, type ImageRecord } from '../test/support/images-contract.js';
import { createTestCa, type TestCa, writeTrustMaterial } from '../test/support/pki.js';
import { type RunningProxy, startProxy } from '../test/support/proxy.js';
import { type RunningRegistry, startRegistry } from '../test/support/registry.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { waitUntil } from '../test/support/wait-until.js';
import { cpuSeconds, fmt, median, peakRssDuring, rssMiB } from './lib.js';
import {
  assertBlobUploaded,
  assertRegistryHostname,
  BenchSetupError,
  type LargeImage,
  writeLargeImageLayout,
} from './push-support.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const ROUNDS = 3;
const REPOSITORY = 'bench/push';
const TAG = 'v1';

/** The proxy recorded something other than what the registry holds. */
class RecordMismatchError extends Error {
  readonly code = 'ERR_BENCH_RECORD_MISMATCH';
}

interface ProxiedRun {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  recordedDigest: string;
}

function layerMiBFromEnv(): number {
  const raw = process.env.BENCH_PUSH_MIB ?? '512';
  const mib = Number(raw);
  if (!Number.isFinite(mib) || mib <= 0)
    throw new BenchSetupError(`BENCH_PUSH_MIB must be a positive number, not ${raw}`);
  return mib;
}

/** Cleanups run in reverse order, once, whether the bench finished, failed or was interrupted. */
class Cleanups {
  private readonly steps: (() => Promise<unknown>)[] = [];
  private ran = false;

  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    if (this.ran) return;
    this.ran = true;
    for (const step of this.steps.reverse()) {
      await step().catch((error: unknown) => process.stderr.write(`cleanup: ${String(error)}\n`));
    }
  }
}

interface Bench {
  dir: string;
  ca: TestCa;
  image: LargeImage;
  proxy: RunningProxy;
  direct: Clients;
  proxied: Clients;
  cleanups: Cleanups;
}

/** A registry no one has pushed to, removed (storage and all) when `use` is done with it. */
async function withEmptyRegistry<T>(
  bench: Bench,
  name: string,
  use: (registry: RunningRegistry) => Promise<T>,
): Promise<T> {
  const registry = await startRegistry({ dir: bench.dir, name, ca: bench.ca, auth: { kind: 'none' } });
  const remove = async () => {
    await registry.stop();
    await rm(dirname(registry.storageDir), { recursive: true, force: true });
  };
  // Also registered, in case an interrupt arrives while `use` runs; removal is idempotent.
  bench.cleanups.add(remove);
  try {
    return await use(registry);
  } finally {
    await remove();
  }
}

async function timedPush(clients: Clients, bench: Bench, registry: RunningRegistry): Promise<number> {
  const start = process.hrtime.bigint();
  await clients.skopeoCopy(bench.image.reference, `docker://${registry.host}/${REPOSITORY}:${TAG}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function directRun(bench: Bench, round: number): Promise<number> {
  return withEmptyRegistry(bench, `direct-${round}`, async (registry) => {
    const seconds = await timedPush(bench.direct, bench, registry);
    await assertBlobUploaded(registry, REPOSITORY, bench.image.layer);
    return seconds;
  });
}

async function proxiedRun(bench: Bench, round: number): Promise<ProxiedRun> {
  return withEmptyRegistry(bench, `proxied-${round}`, async (registry) => {
    const pid = proxyPid(bench.proxy);
    const cpuBefore = cpuSeconds(pid);
    const { result, peakMiB } = await peakRssDuring(pid, async () => {
      const seconds = await timedPush(bench.proxied, bench, registry);
      // The proxy journals after the client has its answer; its CPU for this push includes that.
      const record = await recordedImage(bench.proxy, registry);
      return { seconds, record };
    });
    const cpu = cpuSeconds(pid) - cpuBefore;
    await assertBlobUploaded(registry, REPOSITORY, bench.image.layer);
    await assertRecordMatchesRegistry(result.record, registry, bench.image);
    return {
      seconds: result.seconds,
      cpuSeconds: cpu,
      peakRssMiB: peakMiB,
      recordedDigest: result.record.digest,
    };
  });
}

function proxyPid(proxy: RunningProxy): number {
  const pid = proxy.pid();
  if (pid === undefined) throw new BenchSetupError('the proxy is not running');
  return pid;
}

function recordedImage(proxy: RunningProxy, registry: RunningRegistry): Promise<ImageRecord> {
  return waitUntil(
    async () =>
      (await proxy.images()).find(
        (image) => image.registry === registry.host && image.repository === REPOSITORY,
      ),
    { what: `the proxy to record ${registry.host}/${REPOSITORY}`, attempts: 200, intervalMs: 50 },
  );
}

/** The record's digest, tag and layer disposition against the manifest read from the registry directly. */
async function assertRecordMatchesRegistry(
  record: ImageRecord,
  registry: RunningRegistry,
  image: LargeImage,
): Promise<void> {
  const stored = await readManifest(registry.directClient(), REPOSITORY, TAG);
  const problems: string[] = [];
  if (record.digest !== stored.digest) problems.push(`digest ${record.digest} ≠ registry's ${stored.digest}`);
  if (stored.registryDigest !== undefined && record.registryDigest !== stored.registryDigest)
    problems.push(`registryDigest ${record.registryDigest} ≠ registry's ${stored.registryDigest}`);
  if (!record.tags.includes(TAG)) problems.push(`tags ${JSON.stringify(record.tags)} lack ${TAG}`);
  if (!record.blobs.uploaded.map(blobDigest).includes(image.layer.digest))
    problems.push(`layer ${image.layer.digest} not among uploaded blobs ${JSON.stringify(record.blobs)}`);
  if (problems.length > 0)
    throw new RecordMismatchError(`${registry.host}/${REPOSITORY}: ${problems.join('; ')}`);
}

async function setUp(cleanups: Cleanups, layerBytes: number): Promise<Bench> {
  await assertRegistryHostname();
  const temp = await makeTempDir('bench-push');
  cleanups.add(() => temp.remove());
  const dir = temp.path;
  const ca = await createTestCa(join(dir, 'ca'));
  const directTrust = await writeTrustMaterial(join(dir, 'direct-trust'), ca.caCertPem);
  process.stderr.write(`writing a ${fmt(layerBytes / MiB, 0)} MiB layer…\n`);
  const image = await writeLargeImageLayout(join(dir, 'layout'), layerBytes, TAG);
  const proxy = await startProxy({ dir, upstreamCaPath: ca.caCertPath, extraArgs: ['--log-level', 'warn'] });
  cleanups.add(() => proxy.stop());
  // One client setup (storage, caches) reached two ways: the only difference is the route.
  const direct = await Clients.create({ dir: join(dir, 'clients'), route: { trust: directTrust } });
  cleanups.add(() => direct.dispose());
  const proxied = direct.withRoute({ proxyUrl: proxy.url, trust: proxy.trust });
  return { dir, ca, image, proxy, direct, proxied, cleanups };
}

async function measure(bench: Bench): Promise<Record<string, string>> {
  const pushMiB = bench.image.pushBytes / MiB;
  const idleRssMiB = rssMiB(proxyPid(bench.proxy)).now;
  const directSeconds: number[] = [];
  const proxied: ProxiedRun[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const d = await directRun(bench, round);
    directSeconds.push(d);
    process.stderr.write(`round ${round} direct   ${fmt(d)} s  ${fmt(pushMiB / d, 1)} MiB/s\n`);
    const p = await proxiedRun(bench, round);
    proxied.push(p);
    process.stderr.write(
      `round ${round} proxied  ${fmt(p.seconds)} s  ${fmt(pushMiB / p.seconds, 1)} MiB/s  proxy CPU ${fmt(p.cpuSeconds)} s  RSS ≤ ${fmt(p.peakRssMiB, 0)} MiB\n`,
    );
  }
  const direct = median(directSeconds);
  const viaProxy = median(proxied.map((run) => run.seconds));
  const digests = new Set(proxied.map((run) => run.recordedDigest));
  return {
    'client / registry': 'skopeo copy oci: → docker://, docker-registry 2.8 with TLS, fresh registry per run',
    'pushed per run': `${fmt(pushMiB, 1)} MiB (one incompressible gzip layer + config + manifest), ${ROUNDS} runs each way, alternating`,
    'throughput direct (median)': `${fmt(pushMiB / direct, 1)} MiB/s  (${fmt(direct)} s)`,
    'throughput via proxy (median)': `${fmt(pushMiB / viaProxy, 1)} MiB/s  (${fmt(viaProxy)} s)`,
    'throughput ratio (proxy/direct)': `${fmt(direct / viaProxy)}×`,
    'wall time ratio (proxy/direct)': `${fmt(viaProxy / direct)}×`,
    'proxy CPU per GiB pushed (median)': `${fmt(median(proxied.map((run) => run.cpuSeconds)) / (bench.image.pushBytes / GiB))} s`,
    'proxy peak RSS during push': `${fmt(Math.max(...proxied.map((run) => run.peakRssMiB)), 0)} MiB (sampled every 50 ms; ${fmt(idleRssMiB, 0)} MiB before the first push)`,
    'recorded digest = registry digest': `yes, ${ROUNDS}/${ROUNDS} runs (${[...digests].join(', ')})`,
    'layer uploaded in every run': `yes, ${ROUNDS * 2}/${ROUNDS * 2} (registry storage + its log)`,
  };
}

async function main(): Promise<void> {
  const layerBytes = Math.round(layerMiBFromEnv() * MiB);
  const cleanups = new Cleanups();
  const interrupted = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal}: cleaning up\n`);
    void cleanups.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  let results: Record<string, string>;
  try {
    results = await measure(await setUp(cleanups, layerBytes));
  } finally {
    await cleanups.run();
  }
  const width = Math.max(...Object.keys(results).map((key) => key.length));
  process.stdout.write(`\nprovenance-proxy push, ${new Date().toISOString()}, node ${process.version}\n`);
  for (const [key, value] of Object.entries(results))
    process.stdout.write(`  ${key.padEnd(width)}  ${value}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
