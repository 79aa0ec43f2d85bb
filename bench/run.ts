/**
 * Side-by-side measurements of the proxy against going direct, in one run and
 * one process tree: the same client, origin and payloads, alternating, so
 * machine noise hits both sides alike. Prints ratios; writes nothing to assert.
 *
 *   npm run bench            # all scenarios
 *   BENCH_GIB=0.25 npm run bench   # smaller upload for a quick look
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { cpuSeconds, fmt, median, peakRssDuring, percentile, run, stop, waitForLine } from './lib.js';

const ROOT = new URL('..', import.meta.url).pathname;
const GiB = 1024 ** 3;
const uploadBytes = Math.round(Number(process.env.BENCH_GIB ?? 1) * GiB);
const work = mkdtempSync(join(tmpdir(), 'pp-bench-'));
const results: Record<string, string> = {};

function makePki(hosts: number): { caPath: string; key: string; cert: string } {
  const sh = (...args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });
  sh('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  sh(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/CN=bench-ca',
    '-days',
    '1',
    '-out',
    'ca.pem',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  sh('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf.key');
  sh('req', '-new', '-key', 'leaf.key', '-subj', '/CN=localhost', '-out', 'leaf.csr');
  const ips = Array.from(
    { length: hosts },
    (_, i) => `IP:127.0.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}`,
  );
  writeFileSync(join(work, 'leaf.ext'), `subjectAltName=DNS:localhost,${ips.join(',')}\n`);
  sh(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    'leaf.pem',
    '-extfile',
    'leaf.ext',
  );
  return {
    caPath: join(work, 'ca.pem'),
    key: readFileSync(join(work, 'leaf.key'), 'utf8'),
    cert: readFileSync(join(work, 'leaf.pem'), 'utf8'),
  };
}

async function startOrigin(key: string, cert: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/origin-server.ts')], {
    env: { ...process.env, BENCH_KEY: key, BENCH_CERT: cert },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const m = await waitForLine(child, 'stdout', /listening (\d+)/);
  return { child, port: Number(m[1]) };
}

async function startProxy(
  upstreamCa: string,
): Promise<{ child: ChildProcess; port: number; caPath: string }> {
  const data = mkdtempSync(join(work, 'data-'));
  const child = spawn(
    process.execPath,
    [
      // As shipped: the bin's shebang and `npm start` run node with this flag.
      '--max-semi-space-size=1',
      join(ROOT, 'dist/cli/main.js'),
      'run',
      '--listen',
      '127.0.0.1:0',
      '--control-listen',
      '127.0.0.1:0',
      '--data-dir',
      data,
      '--upstream-ca',
      upstreamCa,
      '--log-level',
      'warn',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const m = await waitForLine(child, 'stderr', /listening on http:\/\/127\.0\.0\.1:(\d+)/);
  return { child, port: Number(m[1]), caPath: join(data, 'ca.pem') };
}

/** The bare Node.js relay of bench/baseline-relay.ts, trusted through the bench CA. */
async function startBaselineRelay(pki: { key: string; cert: string; caPath: string }) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/baseline-relay.ts')], {
    env: {
      ...process.env,
      BENCH_KEY: pki.key,
      BENCH_CERT: pki.cert,
      BENCH_CA: readFileSync(pki.caPath, 'utf8'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const m = await waitForLine(child, 'stdout', /listening (\d+)/);
  return { child, port: Number(m[1]) };
}

async function timedCurl(args: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  const r = await run('curl', ['-sS', '-o', '/dev/null', ...args]);
  if (r.code !== 0) throw new Error(`curl ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function uploadScenario(
  origin: number,
  proxy: { child: ChildProcess; port: number; caPath: string },
  caPath: string,
  relay: { child: ChildProcess; port: number },
) {
  const file = join(work, 'upload.bin');
  execFileSync('truncate', ['-s', String(uploadBytes), file]);
  const url = `https://localhost:${origin}/upload`;
  const direct: number[] = [];
  const proxied: number[] = [];
  const cpu: number[] = [];
  let peak = 0;
  const relayed: number[] = [];
  const relayCpu: number[] = [];
  let relayPeak = 0;
  for (let i = 0; i < 3; i++) {
    direct.push(await timedCurl(['--cacert', caPath, '-T', file, url]));
    const before = cpuSeconds(proxy.child.pid!);
    const { result, peakMiB } = await peakRssDuring(proxy.child.pid!, () =>
      timedCurl(['--proxy', `http://127.0.0.1:${proxy.port}`, '--cacert', proxy.caPath, '-T', file, url]),
    );
    proxied.push(result);
    cpu.push(cpuSeconds(proxy.child.pid!) - before);
    peak = Math.max(peak, peakMiB);
    const relayBefore = cpuSeconds(relay.child.pid!);
    const relayRun = await peakRssDuring(relay.child.pid!, () =>
      timedCurl(['--proxy', `http://127.0.0.1:${relay.port}`, '--cacert', caPath, '-T', file, url]),
    );
    relayed.push(relayRun.result);
    relayCpu.push(cpuSeconds(relay.child.pid!) - relayBefore);
    relayPeak = Math.max(relayPeak, relayRun.peakMiB);
  }
  const gib = uploadBytes / GiB;
  const ratio = median(direct) / median(proxied);
  results['upload size'] = `${fmt(gib)} GiB (TLS both legs, sha256 of every byte)`;
  results['upload throughput direct'] = `${fmt(gib / median(direct))} GiB/s`;
  results['upload throughput via proxy'] = `${fmt(gib / median(proxied))} GiB/s`;
  results['upload ratio (proxy/direct)'] = `${fmt(ratio)}×`;
  results['baseline: bare Node TLS relay throughput'] =
    `${fmt(gib / median(relayed))} GiB/s (${fmt(median(direct) / median(relayed))}× direct)`;
  results['baseline: bare relay CPU per GiB'] = `${fmt(median(relayCpu) / gib)} s`;
  results['baseline: bare relay peak RSS'] = `${fmt(relayPeak, 0)} MiB`;
  results['proxy CPU per GiB vs bare relay'] = `${fmt(median(cpu) / median(relayCpu))}×`;
  results['proxy CPU per GiB'] = `${fmt(median(cpu) / gib)} s`;
  results['proxy peak RSS during upload'] = `${fmt(peak, 0)} MiB`;
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
  caPath: string,
  relay: { port: number },
) {
  const direct = keepAliveClient(origin, readFileSync(caPath, 'utf8'), null);
  const proxied = keepAliveClient(origin, readFileSync(proxy.caPath, 'utf8'), proxy.port);
  const relayed = keepAliveClient(origin, readFileSync(caPath, 'utf8'), relay.port);
  const d: number[] = [];
  const p: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < 200; i++) {
    await direct.request();
    await proxied.request();
    await relayed.request();
  }
  for (let i = 0; i < 3000; i++) {
    d.push(await direct.request());
    p.push(await proxied.request());
    r.push(await relayed.request());
  }
  direct.agent.destroy();
  proxied.agent.destroy();
  relayed.agent.destroy();
  results['baseline: bare relay added latency p50 / p99'] =
    `${fmt(percentile(r, 50) - percentile(d, 50), 3)} ms / ${fmt(percentile(r, 99) - percentile(d, 99), 3)} ms`;
  results['small keep-alive GET p50 direct / via proxy'] =
    `${fmt(percentile(d, 50), 3)} ms / ${fmt(percentile(p, 50), 3)} ms`;
  results['added latency p50'] = `${fmt(percentile(p, 50) - percentile(d, 50), 3)} ms`;
  results['added latency p99'] = `${fmt(percentile(p, 99) - percentile(d, 99), 3)} ms`;
}

async function newHostScenario(
  origin: number,
  proxy: { child: ChildProcess; port: number; caPath: string },
  hosts: number,
) {
  // Same connection pattern twice: one fresh TLS connection per request; first to one host
  // (leaf cached), then each to a new host (leaf minted). The difference is the minting.
  const connectOnce = (host: string) =>
    timedCurl([
      '--proxy',
      `http://127.0.0.1:${proxy.port}`,
      '--cacert',
      proxy.caPath,
      `https://${host}:${origin}/small`,
    ]);
  const pid = proxy.child.pid!;
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
  const proxy = await startProxy(pki.caPath);
  try {
    const scenario = process.env.BENCH_ONLY;
    if (!scenario || scenario === 'upload') {
      const relay = await startBaselineRelay(pki);
      try {
        await uploadScenario(origin.port, proxy, pki.caPath, relay);
      } finally {
        await stop(relay.child);
      }
    }
    if (!scenario || scenario === 'latency') {
      const relay = await startBaselineRelay(pki);
      try {
        await latencyScenario(origin.port, proxy, pki.caPath, relay);
      } finally {
        await stop(relay.child);
      }
    }
    if (!scenario || scenario === 'hosts') await newHostScenario(origin.port, proxy, hosts);
    results['proxy RSS at the end'] =
      `${fmt(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.child.pid}/status`, 'utf8'))?.[1]) / 1024, 0)} MiB`;
  } finally {
    await stop(proxy.child);
    await stop(origin.child);
  }
  const width = Math.max(...Object.keys(results).map((k) => k.length));
  process.stdout.write(`\nprovenance-proxy hot path, ${new Date().toISOString()}, node ${process.version}\n`);
  for (const [k, v] of Object.entries(results)) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exitCode = 1;
});
