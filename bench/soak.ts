/**
 * Soak: the real proxy CLI under 100 concurrent keep-alive connections for 10 minutes, on
 * loopback, with a mixed workload (small GETs and PUTs to an HTTPS origin; blob GETs, HEADs and
 * chunked uploads to Debian's docker-registry). It samples the proxy's RSS and open file
 * descriptors, prints a table and fails (exit 1) unless, after warm-up, RSS stays within 10 % of
 * its post-warm-up level and the descriptor count does not grow. Not part of `npm test`.
 *
 *   npm run soak                                   # 100 connections, 600 s (120 s warm-up)
 *   SOAK_SECONDS=90 SOAK_WARMUP_SECONDS=30 npm run soak   # a trial run
 *
 * Repeats are the point: every request fetches or uploads one of a few fixed bodies, so what
 * the build touched stays the same while how often grows; the proxy's memory must follow the
 * former. Every answer is checked (status and, for downloads, bytes).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ChunkedPusher } from '../test/support/chunked-pusher.js';
import { agentThroughProxy } from '../test/support/clients.js';
import { createTestCa, REGISTRY_HOSTNAME } from '../test/support/pki.js';
import { type RunningProxy, startProxy } from '../test/support/proxy.js';
import { type RunningRegistry, startRegistry } from '../test/support/registry.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { fmt, median, rssMiB } from './lib.js';
import { assertRegistryHostname } from './push-support.js';

const seconds = numberFromEnv('SOAK_SECONDS', 600);
/**
 * Until every connection holds its TLS state on both legs and V8's old generation has found its
 * size: measured, RSS climbs for 90–120 s at this load on the project's machine.
 */
const warmupSeconds = numberFromEnv('SOAK_WARMUP_SECONDS', seconds / 5);
const connections = numberFromEnv('SOAK_CONNECTIONS', 100);
const sampleMs = numberFromEnv('SOAK_SAMPLE_MS', 10_000);
/** A worker replaces its connection after this many requests: connection churn must not leak. */
const REQUESTS_PER_CONNECTION = 200;
const RSS_TOLERANCE = 0.1;
/** Descriptors that may come and go with timing alone (a connection closing between samples). */
const FD_SLACK = 4;
/**
 * Idle upstream connections the proxy's keep-alive agents may keep per upstream host
 * (`maxFreeSockets`, src/http/upstream-agents.ts); the soak talks to two upstreams.
 */
const POOLED_PER_UPSTREAM = 64;
const UPSTREAMS = 2;
const REPOSITORY = 'soak/mixed';

class SoakFailure extends Error {
  readonly code = 'ERR_SOAK_FAILED';
}

interface Sample {
  readonly atSeconds: number;
  readonly requests: number;
  readonly errors: number;
  readonly rssMiB: number;
  /** V8 heap in use and memory held outside it (Buffers), from the proxy's /metrics. */
  readonly heapMiB: number;
  readonly externalMiB: number;
  readonly fds: number;
}

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new SoakFailure(`${name} must be a positive number`);
  return value;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The origin: small answers, drained uploads. In this process: its CPU is not the proxy's. */
async function startOrigin(key: string, cert: string) {
  const small = Buffer.alloc(512, 97);
  const server = https.createServer({ key, cert, keepAliveTimeout: 60_000 }, (req, res) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
    });
    req.on('end', () => {
      if (req.method === 'GET') res.writeHead(200, { 'content-length': small.length }).end(small);
      else res.writeHead(201, { 'content-type': 'text/plain' }).end(`${size}\n`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, small };
}

function request(
  agent: http.Agent,
  port: number,
  method: string,
  path: string,
  body?: Buffer,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: REGISTRY_HOSTNAME,
        port,
        method,
        path,
        headers: { host: `${REGISTRY_HOSTNAME}:${port}`, ...headers },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', reject);
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.once('timeout', () => req.destroy(new SoakFailure(`${method} ${path} timed out`)));
    req.once('error', reject);
    req.end(body);
  });
}

function expect(ok: boolean, what: string): void {
  if (!ok) throw new SoakFailure(what);
}

async function main(): Promise<void> {
  await assertRegistryHostname();
  const temp = await makeTempDir('soak');
  const cleanups: (() => Promise<unknown>)[] = [() => temp.remove()];
  try {
    const ca = await createTestCa(`${temp.path}/ca`);
    const registry: RunningRegistry = await startRegistry({
      dir: temp.path,
      name: 'soak',
      ca,
      auth: { kind: 'none' },
    });
    cleanups.push(() => registry.stop());
    const origin = await startOrigin(ca.serverKeyPem, ca.serverCertPem);
    cleanups.push(async () => {
      origin.server.closeAllConnections();
      origin.server.close();
    });
    const proxy: RunningProxy = await startProxy({
      dir: temp.path,
      upstreamCaPath: ca.caCertPath,
      extraArgs: ['--log-level', 'warn'],
    });
    cleanups.push(() => proxy.stop());
    const pid = proxy.pid();
    if (pid === undefined) throw new SoakFailure('the proxy has no pid');

    // A few fixed bodies, seeded straight into the registry (the pulls) and reused (the uploads).
    const blobs = Array.from({ length: 8 }, () => randomBytes(16 * 1024));
    const direct = new ChunkedPusher(registry.directClient());
    for (const blob of blobs) await direct.uploadBlobInClosingPut(REPOSITORY, blob);
    const digests = blobs.map(sha256);
    const uploads = Array.from({ length: 4 }, () => randomBytes(64 * 1024));
    const proxyPort = Number(new URL(proxy.url).port);
    const caPem = proxy.trust.caPem;

    let requests = 0;
    let errors = 0;
    const errorKinds = new Map<string, number>();
    let stopping = false;
    const startedAt = Date.now();
    const deadline = startedAt + seconds * 1000;

    const operations: ((agent: http.Agent, n: number) => Promise<void>)[] = [
      async (agent) => {
        const res = await request(agent, origin.port, 'GET', '/small');
        expect(res.status === 200 && res.body.equals(origin.small), `GET /small answered ${res.status}`);
      },
      async (agent, n) => {
        const res = await request(agent, origin.port, 'PUT', `/upload/${n % 4}`, uploads[n % 4]);
        expect(res.status === 201, `PUT /upload answered ${res.status}`);
      },
      async (agent, n) => {
        const i = n % blobs.length;
        const res = await request(agent, registry.port, 'GET', `/v2/${REPOSITORY}/blobs/${digests[i]}`);
        expect(res.status === 200 && sha256(res.body) === digests[i], `blob GET answered ${res.status}`);
      },
      async (agent, n) => {
        const res = await request(
          agent,
          registry.port,
          'HEAD',
          `/v2/${REPOSITORY}/blobs/${digests[n % blobs.length]}`,
        );
        expect(res.status === 200, `blob HEAD answered ${res.status}`);
      },
      async (agent, n) => {
        // A chunked upload: POST, one PATCH, closing PUT ?digest= (one of the fixed bodies).
        const body = uploads[n % uploads.length]!;
        const started = await request(agent, registry.port, 'POST', `/v2/${REPOSITORY}/blobs/uploads/`);
        expect(started.status === 202, `upload POST answered ${started.status}`);
        const session = new URL(String(started.headers.location), `https://${registry.host}`);
        const patched = await request(
          agent,
          registry.port,
          'PATCH',
          `${session.pathname}${session.search}`,
          body,
          { 'content-type': 'application/octet-stream' },
        );
        expect(patched.status === 202, `upload PATCH answered ${patched.status}`);
        const next = new URL(String(patched.headers.location), `https://${registry.host}`);
        next.searchParams.set('digest', sha256(body));
        const closed = await request(agent, registry.port, 'PUT', `${next.pathname}${next.search}`);
        expect(closed.status === 201, `upload PUT answered ${closed.status}`);
      },
      async (agent) => {
        const res = await request(agent, registry.port, 'GET', '/v2/');
        expect(res.status === 200, `GET /v2/ answered ${res.status}`);
      },
    ];

    const worker = async (id: number): Promise<void> => {
      let agent = agentThroughProxy(proxyPort, caPem);
      let onConnection = 0;
      for (let n = id; !stopping && Date.now() < deadline; n++) {
        if (onConnection === REQUESTS_PER_CONNECTION) {
          agent.destroy();
          agent = agentThroughProxy(proxyPort, caPem);
          onConnection = 0;
        }
        onConnection++;
        try {
          await operations[n % operations.length]!(agent, n);
          requests++;
        } catch (error) {
          errors++;
          const kind = (error as Error).message.slice(0, 80);
          errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
          agent.destroy();
          agent = agentThroughProxy(proxyPort, caPem);
          onConnection = 0;
        }
      }
      agent.destroy();
    };

    const fdsBefore = openFds(pid);
    const rssBefore = rssMiB(pid).now;
    const samples: Sample[] = [];
    const gauge = (text: string, name: string) =>
      Number(new RegExp(`^provenance_proxy_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 2 ** 20;
    const sample = async () => {
      const atSeconds = (Date.now() - startedAt) / 1000;
      const rss = rssMiB(pid).now;
      const fds = openFds(pid);
      const metrics = await proxy.metrics().catch(() => '');
      samples.push({
        atSeconds,
        requests,
        errors,
        rssMiB: rss,
        heapMiB: gauge(metrics, 'nodejs_heap_size_used_bytes'),
        externalMiB: gauge(metrics, 'nodejs_external_memory_bytes'),
        fds,
      });
    };
    const sampler = setInterval(() => void sample(), sampleMs);
    console.log(
      `soak: ${connections} connections for ${seconds} s (warm-up ${warmupSeconds} s), proxy pid ${pid}, RSS before ${fmt(rssBefore, 1)} MiB, ${fdsBefore} fds`,
    );
    await Promise.all(Array.from({ length: connections }, (_, id) => worker(id)));
    stopping = true;
    clearInterval(sampler);
    await sample();
    // Idle: the client connections are closed; what may remain is the upstream keep-alive pool.
    const idleLimit = fdsBefore + POOLED_PER_UPSTREAM * UPSTREAMS + FD_SLACK;
    let fdsAfter = openFds(pid);
    for (let i = 0; i < 50 && fdsAfter > idleLimit; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      fdsAfter = openFds(pid);
    }
    const ready = await proxy.control('/readyz');

    console.log('\n|   t (s) | requests | req/s | errors | RSS (MiB) | heap used | external | fds |');
    console.log('|--------:|---------:|------:|-------:|----------:|----------:|---------:|----:|');
    let previous = { atSeconds: 0, requests: 0 };
    for (const s of samples) {
      const rate = (s.requests - previous.requests) / Math.max(0.001, s.atSeconds - previous.atSeconds);
      console.log(
        `| ${fmt(s.atSeconds, 0).padStart(7)} | ${String(s.requests).padStart(8)} | ${fmt(rate, 0).padStart(5)} | ${String(s.errors).padStart(6)} | ${fmt(s.rssMiB, 1).padStart(9)} | ${fmt(s.heapMiB, 1).padStart(9)} | ${fmt(s.externalMiB, 1).padStart(8)} | ${String(s.fds).padStart(3)} |`,
      );
      previous = s;
    }

    const after = samples.filter((s) => s.atSeconds >= warmupSeconds);
    const failures: string[] = [];
    if (after.length < 3) failures.push(`only ${after.length} samples after warm-up: run longer`);
    else {
      // Flat = the last third of the run sits where the first third after warm-up did. Medians,
      // because GC makes RSS a sawtooth (one sample may sit 15 % low right after a compaction).
      const third = Math.max(1, Math.floor(after.length / 3));
      const baseline = median(after.slice(0, third).map((s) => s.rssMiB));
      const late = median(after.slice(-third).map((s) => s.rssMiB));
      const highest = Math.max(...after.map((s) => s.rssMiB));
      const lowest = Math.min(...after.map((s) => s.rssMiB));
      const drift = (late - baseline) / baseline;
      console.log(
        `\nafter warm-up (${warmupSeconds} s): RSS median ${fmt(baseline, 1)} MiB in the first third, ${fmt(late, 1)} MiB in the last (${drift >= 0 ? '+' : ''}${fmt(drift * 100, 1)} %); range ${fmt(lowest, 1)}–${fmt(highest, 1)} MiB`,
      );
      if (Math.abs(drift) > RSS_TOLERANCE)
        failures.push(`RSS moved ${fmt(drift * 100, 1)} % after warm-up (limit ${RSS_TOLERANCE * 100} %)`);
      const earlyFds = Math.max(...after.slice(0, third).map((s) => s.fds));
      const lateFds = Math.max(...after.slice(-third).map((s) => s.fds));
      console.log(
        `fds: before ${fdsBefore}, early max ${earlyFds}, late max ${lateFds}, idle after ${fdsAfter}`,
      );
      if (lateFds > earlyFds + FD_SLACK)
        failures.push(`descriptors grew under load: ${earlyFds} → ${lateFds}`);
    }
    if (fdsAfter > idleLimit)
      failures.push(
        `descriptors not released when idle: ${fdsBefore} before, ${fdsAfter} after (limit ${idleLimit} with the upstream pool)`,
      );
    const total = requests + errors;
    console.log(
      `requests: ${requests} ok, ${errors} failed (${fmt(requests / seconds, 0)} req/s); /readyz ${ready.status}`,
    );
    for (const [kind, count] of errorKinds) console.log(`  ${count} × ${kind}`);
    if (errors > total * 0.001) failures.push(`${errors} of ${total} requests failed`);
    if (ready.status !== 200) failures.push(`/readyz answered ${ready.status} after the soak`);
    if (failures.length > 0) throw new SoakFailure(failures.join('; '));
    console.log('soak passed');
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  console.error(`soak failed: ${(error as Error).message}`);
  process.exitCode = 1;
});
