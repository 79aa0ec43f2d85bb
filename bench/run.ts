/**
 * Side-by-side measurements of the proxy against going direct, in one run and
 * one process tree: the same client, origin and payloads, alternating, so
 * machine noise hits both sides alike. Prints ratios; writes nothing to assert.
 *
 *   npm run bench            # all scenarios
 *   BENCH_GIB=0.25 npm run bench   # smaller upload for a quick look
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { OpensslPki } from '../test/support/pki.js';
import { startProxy } from '../test/support/proxy.js';
import { runCommand, startCommand, stopChild } from '../test/support/run-command.js';
import { makeTempDirSync } from '../test/support/temp-dir.js';
import { cryptoFloor, hasSocat, startSocatRelay } from './floors.js';
import { cpuSeconds, fmt, median, peakRssDuring, percentile } from './lib.js';

const ROOT = new URL('..', import.meta.url).pathname;
const GiB = 1024 ** 3;
const uploadBytes = Math.round(Number(process.env.BENCH_GIB ?? 1) * GiB);
const work = makeTempDirSync('bench');
const results: Record<string, string> = {};

/** The bench CA and one leaf for localhost plus `hosts` loopback addresses (one new host each). */
function makePki(hosts: number): { caPath: string; key: string; cert: string } {
  const pki = new OpensslPki(join(work, 'pki'));
  const ca = pki.ca('bench-ca', { days: 1 });
  const ips = Array.from(
    { length: hosts },
    (_, i) => `IP:127.0.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}`,
  );
  const leaf = pki.leaf('leaf', ca, { subject: '/CN=localhost', sans: ['DNS:localhost', ...ips], days: 1 });
  return { caPath: ca.certPath, key: leaf.keyPem, cert: leaf.certPem };
}

/** A bench server (origin or bare relay) run with tsx; it prints `listening PORT` once it serves. */
async function startBenchServer(
  script: string,
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; port: number }> {
  const server = startCommand(process.execPath, ['--import', 'tsx', join(ROOT, script)], {
    env: { ...process.env, ...env },
    timeoutMs: null,
  });
  const m = await server.waitForOutput(/listening (\d+)/);
  return { child: server.child, port: Number(m[1]) };
}

function startOrigin(key: string, cert: string): Promise<{ child: ChildProcess; port: number }> {
  return startBenchServer('bench/origin-server.ts', { BENCH_KEY: key, BENCH_CERT: cert });
}

interface BenchProxy {
  pid: number;
  port: number;
  caPath: string;
  stop(): Promise<void>;
}

/** The proxy CLI as shipped (`--max-semi-space-size=1`), through the tests' one launcher. */
async function startBenchProxy(upstreamCa: string): Promise<BenchProxy> {
  const proxy = await startProxy({
    dir: join(work, 'proxy'),
    upstreamCaPath: upstreamCa,
    extraArgs: ['--log-level', 'warn'],
  });
  const pid = proxy.pid();
  if (pid === undefined) throw new Error('the proxy has no pid');
  return {
    pid,
    port: Number(new URL(proxy.url).port),
    caPath: proxy.caCertOutPath,
    stop: () => proxy.stop(),
  };
}

/** The bare Node.js relay of bench/baseline-relay.ts, trusted through the bench CA. */
function startBaselineRelay(pki: { key: string; cert: string; caPath: string }) {
  return startBenchServer('bench/baseline-relay.ts', {
    BENCH_KEY: pki.key,
    BENCH_CERT: pki.cert,
    BENCH_CA: readFileSync(pki.caPath, 'utf8'),
  });
}

/** Runs curl; returns its wall time and its own CPU (user+system, from the shell's `time`). */
async function timedCurl(args: string[]): Promise<{ seconds: number; cpu: number }> {
  const start = process.hrtime.bigint();
  const r = await runCommand(
    'bash',
    ['-c', 'TIMEFORMAT="cpu %3U %3S"; time curl -sS -o /dev/null "$@"', 'bash', ...args],
    { timeoutMs: null },
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const m = /cpu (\d+\.\d+) (\d+\.\d+)\s*$/.exec(r.stderr);
  if (r.code !== 0 || !m) throw new Error(`curl ${args.join(' ')} failed: ${r.stderr}`);
  return { seconds, cpu: Number(m[1]) + Number(m[2]) };
}

interface Leg {
  seconds: number[];
  cpu: number[];
  peakMiB: number;
}
const newLeg = (): Leg => ({ seconds: [], cpu: [], peakMiB: 0 });

/** One timed upload through a relay process whose CPU and peak RSS are charged to `leg`. */
async function relayedUpload(leg: Leg, pid: number, curlArgs: string[]): Promise<void> {
  const before = cpuSeconds(pid);
  const { result, peakMiB } = await peakRssDuring(pid, () => timedCurl(curlArgs));
  leg.seconds.push(result.seconds);
  leg.cpu.push(cpuSeconds(pid) - before);
  leg.peakMiB = Math.max(leg.peakMiB, peakMiB);
}

async function uploadScenario(
  origin: { child: ChildProcess; port: number },
  proxy: BenchProxy,
  pki: { key: string; cert: string; caPath: string },
  relay: { child: ChildProcess; port: number },
) {
  const file = join(work, 'upload.bin');
  execFileSync('truncate', ['-s', String(uploadBytes), file]);
  const url = `https://localhost:${origin.port}/upload`;
  const caPath = pki.caPath;
  const direct = newLeg();
  const clientCpu: number[] = [];
  const proxied = newLeg();
  const bare = newLeg();
  const socat = newLeg();
  const withSocat = hasSocat();
  for (let i = 0; i < 3; i++) {
    const originBefore = cpuSeconds(origin.child.pid!);
    const d = await timedCurl(['--cacert', caPath, '-T', file, url]);
    direct.seconds.push(d.seconds);
    direct.cpu.push(cpuSeconds(origin.child.pid!) - originBefore);
    clientCpu.push(d.cpu);
    await relayedUpload(proxied, proxy.pid, [
      '--proxy',
      `http://127.0.0.1:${proxy.port}`,
      '--cacert',
      proxy.caPath,
      '-T',
      file,
      url,
    ]);
    await relayedUpload(bare, relay.child.pid!, [
      '--proxy',
      `http://127.0.0.1:${relay.port}`,
      '--cacert',
      caPath,
      '-T',
      file,
      url,
    ]);
    if (withSocat) {
      const c = await startSocatRelay(work, pki, origin.port);
      const r = await timedCurl([
        '--connect-to',
        `localhost:${origin.port}:127.0.0.1:${c.port}`,
        '--cacert',
        caPath,
        '-T',
        file,
        url,
      ]);
      socat.seconds.push(r.seconds);
      socat.cpu.push(await c.cpuSeconds);
    }
  }
  const gib = uploadBytes / GiB;
  const perGiB = (values: number[]) => median(values) / gib;
  const ratio = (leg: Leg) => median(direct.seconds) / median(leg.seconds);
  results['upload size'] = `${fmt(gib)} GiB (TLS both legs, sha256 of every byte)`;
  results['upload throughput direct'] = `${fmt(gib / median(direct.seconds))} GiB/s`;
  results['upload throughput via proxy'] = `${fmt(gib / median(proxied.seconds))} GiB/s`;
  results['upload ratio (proxy/direct)'] = `${fmt(ratio(proxied))}×`;
  results['proxy CPU per GiB'] = `${fmt(perGiB(proxied.cpu))} s`;
  results['proxy peak RSS during upload'] = `${fmt(proxied.peakMiB, 0)} MiB`;
  results['baseline: bare Node TLS relay'] =
    `${fmt(ratio(bare))}× direct, ${fmt(perGiB(bare.cpu))} s CPU/GiB, peak RSS ${fmt(bare.peakMiB, 0)} MiB`;
  results['proxy CPU per GiB vs bare relay'] = `${fmt(median(proxied.cpu) / median(bare.cpu))}×`;
  results['floor: socat (C) TLS relay, no hashing'] = withSocat
    ? `${fmt(ratio(socat))}× direct, ${fmt(perGiB(socat.cpu))} s CPU/GiB`
    : 'skipped (apt-get install socat)';
  const crypto = cryptoFloor();
  results['floor: sha256 + AES-GCM decrypt + encrypt'] =
    `${fmt(crypto.sha256 + 2 * crypto.aesGcm)} s CPU/GiB (sha256 ${fmt(crypto.sha256)}, AES-256-GCM ${fmt(crypto.aesGcm)} per leg, openssl speed)`;
  // Client, relay and origin share the machine's cores. When all three are CPU-bound the
  // relay may spend at most what is left of the cores over the time 0.75× direct allows.
  const cores = availableParallelism();
  const clientAndOrigin = perGiB(clientCpu) + perGiB(direct.cpu);
  const budget = (cores * perGiB(direct.seconds)) / 0.75 - clientAndOrigin;
  results['direct: client + origin CPU per GiB'] = `${fmt(perGiB(clientCpu))} + ${fmt(perGiB(direct.cpu))} s`;
  results['relay CPU per GiB that 0.75× leaves here'] =
    `${fmt(budget)} s (${cores} cores × ${fmt(perGiB(direct.seconds))} s/GiB direct ÷ 0.75, minus client and origin)`;
}

function keepAliveClient(
  port: number,
  ca: string,
  proxyPort: number | null,
): { agent: http.Agent; request: () => Promise<number> } {
  let agent: http.Agent;
  if (proxyPort === null) {
    agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  } else {
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // biome-ignore lint/suspicious/noExplicitAny: callback form of createConnection
    (agent as any).createConnection = (_o: unknown, cb: (e: Error | null, s?: tls.TLSSocket) => void) => {
      const req = http.request({
        host: '127.0.0.1',
        port: proxyPort,
        method: 'CONNECT',
        path: `localhost:${port}`,
      });
      req.once('connect', (_res, socket) => {
        const s = tls.connect({ socket, servername: 'localhost', ca }, () => cb(null, s));
        s.once('error', (e) => cb(e));
      });
      req.once('error', (e) => cb(e));
      req.end();
    };
  }
  const mod = proxyPort === null ? https : http;
  const request = () =>
    new Promise<number>((resolve, reject) => {
      const start = process.hrtime.bigint();
      const req = mod.get({ host: 'localhost', port, path: '/small', agent }, (res) => {
        res.resume();
        res.once('end', () => resolve(Number(process.hrtime.bigint() - start) / 1e6));
      });
      req.once('error', reject);
    });
  return { agent, request };
}

async function latencyScenario(
  origin: number,
  proxy: { port: number; caPath: string },
  pki: { key: string; cert: string; caPath: string },
  relay: { port: number },
) {
  const ca = readFileSync(pki.caPath, 'utf8');
  const socat = hasSocat() ? await startSocatRelay(work, pki, origin) : null;
  const clients = {
    direct: keepAliveClient(origin, ca, null),
    proxy: keepAliveClient(origin, readFileSync(proxy.caPath, 'utf8'), proxy.port),
    bare: keepAliveClient(origin, ca, relay.port),
    // socat relays one TLS connection as is: the client dials it in place of the origin.
    socat: socat ? keepAliveClient(socat.port, ca, null) : null,
  };
  const samples = {
    direct: [] as number[],
    proxy: [] as number[],
    bare: [] as number[],
    socat: [] as number[],
  };
  const names = ['direct', 'proxy', 'bare', 'socat'] as const;
  for (let i = 0; i < 3200; i++) {
    for (const name of names) {
      const ms = await clients[name]?.request();
      // The first 200 rounds warm up JIT, caches and connections on every side.
      if (ms !== undefined && i >= 200) samples[name].push(ms);
    }
  }
  for (const name of names) clients[name]?.agent.destroy();
  if (socat) await socat.cpuSeconds;
  const added = (values: number[], p: number) => percentile(values, p) - percentile(samples.direct, p);
  const line = (values: number[]) => `+${fmt(added(values, 50), 3)} ms / +${fmt(added(values, 99), 3)} ms`;
  results['small keep-alive GET p50 direct / via proxy'] =
    `${fmt(percentile(samples.direct, 50), 3)} ms / ${fmt(percentile(samples.proxy, 50), 3)} ms`;
  results['added latency p50'] = `${fmt(added(samples.proxy, 50), 3)} ms`;
  results['added latency p99'] = `${fmt(added(samples.proxy, 99), 3)} ms`;
  results['baseline: bare Node relay added p50 / p99'] = line(samples.bare);
  results['floor: socat (C) TLS relay added p50 / p99'] = socat
    ? line(samples.socat)
    : 'skipped (apt-get install socat)';
}

async function newHostScenario(origin: number, proxy: BenchProxy, hosts: number) {
  // Same connection pattern twice: one fresh TLS connection per request on both sides (the
  // origin closes each upstream connection); first to one host (leaf cached), then each to a
  // new host (leaf minted). The difference is the minting.
  const connectOnce = (host: string) =>
    timedCurl([
      '--proxy',
      `http://127.0.0.1:${proxy.port}`,
      '--cacert',
      proxy.caPath,
      `https://${host}:${origin}/small-close`,
    ]);
  const pid = proxy.pid;
  await connectOnce('127.0.0.1');
  let before = cpuSeconds(pid);
  for (let i = 0; i < hosts; i++) await connectOnce('127.0.0.1');
  const sameHost = (cpuSeconds(pid) - before) / hosts;
  before = cpuSeconds(pid);
  for (let i = 1; i <= hosts; i++) await connectOnce(`127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const newHost = (cpuSeconds(pid) - before) / hosts;
  results['proxy CPU per connection, known host'] = `${fmt(sameHost * 1000)} ms`;
  results['proxy CPU per connection, new host'] = `${fmt(newHost * 1000)} ms (leaf minted)`;
  results['proxy CPU per new host (minting alone)'] = `${fmt((newHost - sameHost) * 1000)} ms`;
}

async function main() {
  const hosts = 200;
  const pki = makePki(hosts + 2);
  const origin = await startOrigin(pki.key, pki.cert);
  const proxy = await startBenchProxy(pki.caPath);
  try {
    const scenario = process.env.BENCH_ONLY;
    if (!scenario || scenario === 'upload') {
      const relay = await startBaselineRelay(pki);
      try {
        await uploadScenario(origin, proxy, pki, relay);
      } finally {
        await stopChild(relay.child);
      }
    }
    if (!scenario || scenario === 'latency') {
      const relay = await startBaselineRelay(pki);
      try {
        await latencyScenario(origin.port, proxy, pki, relay);
      } finally {
        await stopChild(relay.child);
      }
    }
    if (!scenario || scenario === 'hosts') await newHostScenario(origin.port, proxy, hosts);
    results['proxy RSS at the end'] =
      `${fmt(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.pid}/status`, 'utf8'))?.[1]) / 1024, 0)} MiB`;
  } finally {
    await proxy.stop();
    await stopChild(origin.child);
  }
  const width = Math.max(...Object.keys(results).map((k) => k.length));
  process.stdout.write(`\nprovenance-proxy hot path, ${new Date().toISOString()}, node ${process.version}\n`);
  for (const [k, v] of Object.entries(results)) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exitCode = 1;
});
