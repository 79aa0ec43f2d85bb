/**
 * What the push-attempt gate costs a manifest PUT: the proxy holds the last body bytes until
 * a `push.attempt` line is fsync'd (docs/decisions.md). Sequential manifest PUTs over one
 * keep-alive TLS session through the proxy to Debian's docker-registry, against the same
 * PUTs through a proxy built from a base commit without the gate, and straight to the
 * registry; rounds alternate so machine noise hits every side alike. Also times a bare
 * journal append in the same temp filesystem: the fsync the gate waits for.
 *
 *   npm run build && BENCH_BASE_CLI=/path/to/base/dist/cli/main.js node --import tsx bench/manifest-gate.ts
 */
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Journal } from '../src/journal/journal.js';
import { ChunkedPusher } from '../test/support/chunked-pusher.js';
import { agentThroughProxy } from '../test/support/clients.js';
import { MEDIA_TYPES } from '../test/support/manifest-types.js';
import { createTestCa, REGISTRY_HOSTNAME } from '../test/support/pki.js';
import { PROXY_CLI_ENV, type RunningProxy, startProxy } from '../test/support/proxy.js';
import { startRegistry } from '../test/support/registry.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { fmt, median, percentile } from './lib.js';

const ROUNDS = 5;
const PUTS_PER_ROUND = 100;
const WARM_UP = 20;
const REPOSITORY = 'bench/gate';

const temp = await makeTempDir('manifest-gate');
const stops: (() => Promise<void>)[] = [];
try {
  const ca = await createTestCa(join(temp.path, 'ca'));
  const registry = await startRegistry({ dir: temp.path, name: 'open', ca, auth: { kind: 'none' } });
  stops.push(() => registry.stop());
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const configDigest = await new ChunkedPusher(registry.directClient()).uploadBlobInClosingPut(
    REPOSITORY,
    config,
  );
  const manifest = () =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: config.length },
        layers: [],
        annotations: { nonce: randomUUID() },
      }),
    );

  const sides: { name: string; agent: http.Agent }[] = [];
  const started = async (name: string, cli: string | undefined): Promise<RunningProxy> => {
    if (cli === undefined) delete process.env[PROXY_CLI_ENV];
    else process.env[PROXY_CLI_ENV] = cli;
    const proxy = await startProxy({ dir: join(temp.path, name), upstreamCaPath: ca.caCertPath });
    stops.push(() => proxy.stop());
    return proxy;
  };
  const gated = await started('gated', undefined);
  sides.push({ name: 'proxy (gate)', agent: agentThroughProxy(portOf(gated), gated.trust.caPem) });
  const baseCli = process.env.BENCH_BASE_CLI;
  if (baseCli !== undefined) {
    const base = await started('base', baseCli);
    sides.push({ name: 'proxy (base, no gate)', agent: agentThroughProxy(portOf(base), base.trust.caPem) });
  }
  sides.push({
    name: 'direct',
    agent: new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.caCertPem }) as http.Agent,
  });

  const samples = new Map<string, number[]>(sides.map((side) => [side.name, []]));
  for (const side of sides)
    for (let i = 0; i < WARM_UP; i++) await timedPut(side.agent, registry.port, manifest());
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of sides) {
      for (let i = 0; i < PUTS_PER_ROUND; i++)
        samples.get(side.name)!.push(await timedPut(side.agent, registry.port, manifest()));
    }
  }
  console.log(`manifest PUT latency, ${ROUNDS * PUTS_PER_ROUND} sequential PUTs per side (ms):`);
  for (const [name, values] of samples) {
    console.log(
      `  ${name.padEnd(24)} p50 ${fmt(median(values), 3)}  p90 ${fmt(percentile(values, 90), 3)}  p99 ${fmt(percentile(values, 99), 3)}`,
    );
  }

  const journal = await Journal.open({
    dir: join(temp.path, 'journal-only'),
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
  });
  const appends: number[] = [];
  for (let i = 0; i < 200; i++) {
    const start = process.hrtime.bigint();
    await journal.append('push.attempt', {
      digest: `sha256:${createHash('sha256').update(String(i)).digest('hex')}`,
    });
    appends.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  await journal.close();
  console.log(
    `  journal append + fdatasync    p50 ${fmt(median(appends), 3)}  p90 ${fmt(percentile(appends, 90), 3)}`,
  );
  for (const side of sides) side.agent.destroy();
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await temp.remove();
}

function portOf(proxy: RunningProxy): number {
  return Number(new URL(proxy.url).port);
}

function timedPut(agent: http.Agent, port: number, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const request = (agent instanceof https.Agent ? https : http).request(
      {
        host: REGISTRY_HOSTNAME,
        port,
        method: 'PUT',
        path: `/v2/${REPOSITORY}/manifests/${randomUUID()}`,
        headers: { 'content-type': MEDIA_TYPES.ociManifest, 'content-length': body.length },
        agent,
      },
      (response) => {
        response.resume();
        response.once('end', () => {
          if (response.statusCode !== 201) reject(new Error(`PUT answered ${response.statusCode}`));
          else resolve(Number(process.hrtime.bigint() - start) / 1e6);
        });
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}
